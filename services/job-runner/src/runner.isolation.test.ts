import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  closeHarnesses,
  createHarness,
  jobRequest,
  readText,
  requireExecutor,
  type Harness,
} from './runner.harness';
import type { JobRunnerDeps } from './runner';
import { CGROUP_PARENT } from './sandbox/job-cgroup';

/**
 * The OS boundary around jobs (ADR 0013) with real bubblewrap, control groups and rlimits. Node's
 * permission model is switched off here (`sandbox: false`) so that each test shows what the OS layer
 * alone holds. Needs Linux, root and bubblewrap (scripts/test.mjs installs it).
 */
jest.setTimeout(60_000);

afterEach(closeHarnesses);
beforeAll(requireExecutor);

const isolation: NonNullable<JobRunnerDeps['isolation']> = {
  network: 'none',
  maxProcesses: 64,
  cpuSeconds: 60,
  diskMb: 16,
  uidBase: 3_000_000,
};

function isolated(deps: Partial<JobRunnerDeps> = {}): Promise<Harness> {
  return createHarness({ sandbox: false, isolation, memoryMb: 64, ...deps });
}

/** A package whose entry point `main.mjs` runs `body` (an async function body with `fs` at hand). */
async function script(h: Harness, body: string): Promise<void> {
  await h.putPackage({
    'main.mjs': `import fs from 'node:fs';\nimport net from 'node:net';\nimport cp from 'node:child_process';\nexport default async function () {\n${body}\n}\n`,
  });
}

/** Runs `main.mjs` and returns the terminal progress and the job log. */
async function runScript(h: Harness) {
  const req = jobRequest({ entryPoint: 'main.mjs' });
  const p = await h.run(req);
  const log = (await readText(h.storage, req.logKey)) ?? '';
  return { p, log, req };
}

/** The JSON a script printed as `RESULT <json>`. */
function result(log: string): Record<string, unknown> {
  const m = /RESULT (\{.*\})/.exec(log);
  if (!m) throw new Error(`no RESULT line in the job log:\n${log}`);
  return JSON.parse(m[1] as string) as Record<string, unknown>;
}

describe('JobRunner isolation (bubblewrap)', () => {
  it('runs a job as a user of its own, alone in its PID namespace, seeing none of the host', async () => {
    const h = await isolated();
    // World-readable, next to the work dir: only the job's mount namespace keeps it out of reach.
    const secret = path.join(h.dir, 'platform-secret.txt');
    await fs.writeFile(secret, 'top secret', { mode: 0o644 });
    await script(
      h,
      `const r = { uid: process.getuid(), pid: process.pid };
       r.procs = fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n)).length;
       try { r.secret = fs.readFileSync(${JSON.stringify(secret)}, 'utf8'); } catch (e) { r.secret = e.code; }
       try { r.hostRoot = fs.readdirSync('/root').length; } catch (e) { r.hostRoot = e.code; }
       try { process.kill(${process.pid}, 0); r.runner = 'visible'; } catch (e) { r.runner = e.code; }
       console.log('RESULT ' + JSON.stringify(r));`,
    );
    const { p, log } = await runScript(h);
    expect(p.status).toBe('FINISHED');
    const r = result(log);
    expect(r.uid).toBeGreaterThanOrEqual(isolation.uidBase);
    expect(r.uid).not.toBe(process.getuid?.());
    expect(r.procs).toBeLessThanOrEqual(3); // bubblewrap's init and the executor
    expect(r.secret).toBe('ENOENT');
    expect(r.hostRoot).toBe('ENOENT');
    expect(r.runner).toBe('ESRCH'); // the runner's pid does not exist in the job's namespace
  });

  it('gives a job no network with JOBS_NETWORK=none: a server on the runner’s loopback is unreachable', async () => {
    const server = net.createServer((s) => s.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const h = await isolated();
      await script(
        h,
        `const r = await new Promise((res) => net.connect(${port}, '127.0.0.1').on('connect', () => res('CONNECTED')).on('error', (e) => res(e.code)));
         console.log('RESULT ' + JSON.stringify({ r }));`,
      );
      const { p, log } = await runScript(h);
      expect(p.status).toBe('FINISHED');
      expect(result(log).r).toBe('ECONNREFUSED');
    } finally {
      server.close();
    }
  });

  it('gives a job a way out but never to the host’s loopback with JOBS_NETWORK=egress', async () => {
    const server = net.createServer((s) => s.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const h = await isolated({ isolation: { ...isolation, network: 'egress' } });
      await script(
        h,
        `const os = await import('node:os');
         const at = (host) => new Promise((res) => net.connect(${port}, host).on('connect', () => res('CONNECTED')).on('error', (e) => res(e.code)));
         console.log('RESULT ' + JSON.stringify({ ifs: Object.keys(os.networkInterfaces()).sort(), lo: await at('127.0.0.1'), gw: await at('10.0.2.2') }));`,
      );
      const { p, log } = await runScript(h);
      expect(p.status).toBe('FINISHED');
      const r = result(log);
      expect(r.ifs).toEqual(['lo', 'tap0']); // slirp4netns' interface: the way to other hosts
      expect(r.lo).toBe('ECONNREFUSED'); // its own loopback, not the runner's
      expect(r.gw).toBe('ENETUNREACH'); // slirp's alias of the host loopback is disabled
    } finally {
      server.close();
    }
  });

  it('stops a memory bomb outside the heap: FAILED resource-limit, and the runner carries on', async () => {
    const h = await isolated();
    await script(h, `const keep = []; for (;;) keep.push(Buffer.alloc(8 * 1024 * 1024, 1));`);
    const { p, log } = await runScript(h);
    expect(p.status).toBe('FAILED');
    expect(p.reason).toBe('resource-limit');
    expect(log).toContain('resource-limit: memory 192 MiB');
    // The runner still runs jobs.
    await script(h, `console.log('RESULT {"ok":true}');`);
    expect((await runScript(h)).p.status).toBe('FINISHED');
  });

  it('stops a disk fill: FAILED resource-limit, its outputs not uploaded', async () => {
    const h = await isolated();
    await script(
      h,
      `for (let i = 0; ; i++) { fs.writeFileSync('../out/f' + i, Buffer.alloc(2 * 1024 * 1024, 1)); await new Promise((r) => setTimeout(r, 2)); }`,
    );
    const { p, log, req } = await runScript(h);
    expect(p.status).toBe('FAILED');
    expect(p.reason).toBe('resource-limit');
    expect(log).toContain('resource-limit: disk 16 MiB');
    const uploaded: string[] = [];
    for await (const o of h.storage.list(req.outPrefix)) uploaded.push(o.key);
    expect(uploaded).toEqual([]);
  });

  it('caps the tasks of a job: a fork bomb ends FAILED resource-limit', async () => {
    const h = await isolated({ isolation: { ...isolation, maxProcesses: 24 } });
    await script(
      h,
      `const kids = []; for (let i = 0; i < 200; i++) kids.push(cp.spawn('/bin/sleep', ['30']));
       await new Promise((r) => setTimeout(r, 200)); throw new Error('started ' + kids.filter((k) => k.pid).length);`,
    );
    const { p, log } = await runScript(h);
    expect(p.status).toBe('FAILED');
    expect(p.reason).toBe('resource-limit');
    expect(log).toContain('resource-limit: processes 24 tasks');
  });

  it('isolates warm executors too, and leaves no control group behind', async () => {
    const h = await isolated({ warmExecutors: 1 });
    await script(h, `console.log('RESULT ' + JSON.stringify({ uid: process.getuid() }));`);
    const { p, log } = await runScript(h);
    expect(p.status).toBe('FINISHED');
    const uid = result(log).uid as number;
    expect(uid).toBeGreaterThanOrEqual(isolation.uidBase);
    await h.runner.stop(0);
    // The job's control groups (named after its user id) are gone once it ended.
    const groups = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/pids', '/sys/fs/cgroup']
      .map((r) => path.join(r, CGROUP_PARENT))
      .filter((d) => existsSync(d));
    expect(groups.length).toBeGreaterThan(0);
    for (const g of groups) {
      const left = (await fs.readdir(g)).filter((n) => n.startsWith(`job-u${uid}-`));
      expect(left).toEqual([]);
    }
  });
});
