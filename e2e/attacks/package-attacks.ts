import { waitFor } from '@im/testing';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TEST_LIMITS } from './defences';
import { findFile, hostAddresses, hostPid1Cmdline, inspectorList, pidsWithCmdline } from './host';
import { attackPackage } from './jobs';
import type { Port } from './platform';
import type { AttackState } from './suite';
import { jobDetail, through, verdict } from './verdict';

/**
 * Attacks made by a package's code, run as jobs of the platform. A victim job runs beside them (the
 * sibling they aim at) until the test releases it. The attacks that could take the platform down
 * (SIGUSR1 and SIGKILL to the runner) come last, see {@link runnerAttacks}.
 */
export function packageAttacks(s: AttackState): void {
  const mark = randomBytes(6).toString('hex');
  let configId = '';
  let victimJob = '';
  let victimDir = '';
  let victimPids: number[] = [];
  const submitted: Record<string, string> = {};

  const plan = (extra: Record<string, unknown> = {}) => ({
    mark,
    runnerPids: s.platform.runnerPids(),
    victimPids,
    ...extra,
  });
  const run = (attack: string, extra: Record<string, unknown> = {}) =>
    s.jobs.run(configId, { ATTACK: attack, ATTACK_PLAN: JSON.stringify(plan(extra)) });
  /** Waits for a submitted attack's job; resolves with the job and its report. */
  const outcome = async (attack: string) => {
    const id = submitted[attack] as string;
    const job = await s.jobs.ended(id);
    return { id, job, report: await s.jobs.outJson(id, 'report.json') };
  };

  beforeAll(async () => {
    configId = await s.jobs.configure('attacks', await attackPackage(), 'attack.mjs');
    victimJob = await run('victim', { seconds: 120 });
    await waitFor(async () => ((await s.jobs.log(victimJob)).includes('victim started') ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the victim job to start',
    });
    const out = findFile(s.platform.workDir, `victim-${mark}.txt`);
    if (!out) throw new Error(`the victim's out dir is not under ${s.platform.workDir}`);
    victimDir = path.dirname(out);
    victimPids = pidsWithCmdline(`im-victim-${mark}`);
    const ports: Port[] = [
      ...s.platform.ports,
      { name: 'inspector', port: 9229, kind: 'http', path: '/json/version', expect: 'V8-Version' },
    ];
    const targets = {
      proc: {},
      pid1: {},
      files: {
        readFiles: [
          ...s.platform.secretFiles,
          path.join(victimDir, 'executor-spec.json'),
          path.join(victimDir, 'job.log'),
          path.join(victimDir, 'out', `victim-${mark}.txt`),
        ],
        listDirs: [...s.platform.privateDirs, victimDir, path.join(victimDir, 'out')],
        scanDirs: [os.tmpdir()],
        writeDirs: [path.join(victimDir, 'out')],
      },
      network: { targets: ports, hosts: ['127.0.0.1', '10.0.2.2', ...hostAddresses()] },
      'fork-bomb': { maxProcesses: TEST_LIMITS.maxProcesses },
      'memory-bomb': { memoryMb: TEST_LIMITS.memoryMb },
      'disk-fill': { diskMb: TEST_LIMITS.diskMb },
    };
    for (const [attack, extra] of Object.entries(targets)) submitted[attack] = await run(attack, extra);
  }, 90_000);

  it('reads /proc/<pid>/{cmdline,environ,mem} of the runner and of a sibling, opens mem for writing', async () => {
    const { job, report } = await outcome('proc');
    const hits = ((report?.processes ?? []) as any[]).flatMap((p) => {
      const who =
        (p.environ ?? '').includes(s.platform.canary) || (p.cmdline ?? '').includes(s.platform.runnerMain)
          ? 'platform process'
          : (p.cmdline ?? '').includes(`im-victim-${mark}`)
            ? 'sibling'
            : undefined;
      if (!who) return [];
      const got = ['cmdline', 'environ'].filter((f) => p[f]);
      if (p.memRead) got.push('mem read');
      if (p.memWritable) got.push('mem opened for writing');
      return got.length > 0 ? [`${who} pid ${p.pid}: ${got.join(', ')}`] : [];
    });
    verdict(
      s.platform.name,
      'proc-of-others',
      hits.length > 0,
      `${hits.join('; ') || 'no runner or sibling process readable'}; processes seen: ${report?.processes?.length ?? 'none'}; job ${job.status}`,
    );
  });

  it("reads the platform's keys and databases, lists its data and another job's directory, writes there", async () => {
    const { job, report } = await outcome('files');
    const got = through(report, (w) => !w.startsWith('own out dir')).filter((w) => {
      const a = (report.attempts as any[]).find((x) => x.what === w);
      return !(Array.isArray(a.detail) && a.detail.length === 0) && a.detail !== 0;
    });
    expect(through(report, (w) => w.startsWith('own out dir'))).toHaveLength(1);
    verdict(
      s.platform.name,
      'files-of-others',
      got.length > 0,
      jobDetail(job, { attempts: [] }) + `; got: [${got.join('; ')}]`,
    );
  });

  it("signals the host's PID 1", async () => {
    const { job, report } = await outcome('pid1');
    const signalled = through(report, (w) => w === 'signal 0 to PID 1').length > 0;
    const seen = (report?.attempts as any[])?.find((a) => a.what === '/proc/1/cmdline');
    const hostOne = seen?.ok
      ? seen.detail === hostPid1Cmdline()
      : s.platform.runnerPids().includes(report?.ppid as number);
    verdict(
      s.platform.name,
      'signal-pid1',
      signalled && hostOne,
      `PID 1 is the host's: ${hostOne}; signal 0 permitted: ${signalled}; ${jobDetail(job, report)}`,
    );
  });

  it("connects to the platform's ports, the inspector, the broker, the database and object storage", async () => {
    const { job, report } = await outcome('network');
    const connected = through(report);
    verdict(
      s.platform.name,
      'network-to-platform',
      connected.length > 0,
      `connected: [${connected.join('; ')}]; attempts ${report?.attempts?.length}; job ${job.status}`,
    );
  });

  it('SIGUSR1 and SIGKILL to a sibling job', async () => {
    // After the attacks that read the sibling: this one may kill it.
    submitted.sibling = await run('sibling');
    const { job, report } = await outcome('sibling');
    const stillThere = victimPids.filter((p) => pidsWithCmdline(`im-victim-${mark}`).includes(p));
    // Ended already (a probe, no waiting): only a killed victim would have.
    const victim: any = await s.jobs.ended(victimJob, 1).catch(() => undefined);
    const succeeded = stillThere.length < victimPids.length || victim !== undefined;
    verdict(
      s.platform.name,
      'signal-sibling',
      succeeded,
      `victim pids ${victimPids.join(',')} alive: ${stillThere.join(',') || 'none'}; victim job ${victim ? victim.status : 'still running'}; ${jobDetail(job, report)}`,
    );
  });

  it('leaves the sibling job unaffected: it ends FINISHED with its own files', async () => {
    try {
      // The victim waits for `release` in its out/ directory (attack.mjs victim()).
      fs.writeFileSync(path.join(victimDir, 'out', 'release'), '');
    } catch {
      // Its directory is gone: the victim ended already (the verdict below says how).
    }
    const job = await s.jobs.ended(victimJob);
    const alive = await s.jobs.outJson(victimJob, 'alive.json');
    const planted = fs.existsSync(path.join(victimDir, 'out', 'planted-by-attack.txt'));
    verdict(
      s.platform.name,
      'sibling-unaffected',
      job.status !== 'FINISHED' || !alive || planted,
      `victim job ${job.status}${job.reason ? ` (${job.reason})` : ''}; alive.json ${alive ? 'written' : 'missing'}; planted file ${planted ? 'found' : 'absent'}`,
    );
  });

  const bomb = (attack: string, what: string, size: (r: any) => number, limit: number, resource: string) =>
    it(`${what} is stopped at the limit, the job ends saying why`, async () => {
      const { job, report } = await outcome(attack);
      const reached = report ? size(report) : 0;
      verdict(
        s.platform.name,
        attack,
        reached >= limit * 2,
        `reached ${reached} of ${limit * 2} (limit ${limit}); ${jobDetail(job, report)}`,
      );
      // Stopped by being killed: FAILED with a reason a user understands, not internal-error.
      if (reached < limit && job.status !== 'FINISHED') {
        expect(job.status).toBe('FAILED');
        expect(job.reason).toMatch(new RegExp(`^resource-limit: ${resource}`));
      }
      expect((await s.api('GET', '/api/product/info')).status).toBe(200);
    });
  bomb('fork-bomb', 'a fork bomb', (r) => r.started ?? 0, TEST_LIMITS.maxProcesses, 'processes');
  bomb(
    'memory-bomb',
    'a memory bomb outside the V8 heap',
    (r) => r.allocatedMb ?? 0,
    TEST_LIMITS.memoryMb,
    'memory',
  );
  bomb('disk-fill', 'a disk fill', (r) => r.writtenMb ?? 0, TEST_LIMITS.diskMb, 'disk');

  it('still runs jobs after the attacks', async () => {
    const id = await run('network', { targets: [] });
    expect((await s.jobs.ended(id)).status).toBe('FINISHED');
  });

  /** SIGUSR1 (the inspector) and SIGKILL to the runner: last, as they may take it down. */
  it('SIGUSR1 to the parent and the runner opens no inspector', async () => {
    submitted.inspector = await run('inspector');
    const { job, report } = await outcome('inspector');
    const fromJob = (report?.attempts as any[])?.find((a) => a.what.startsWith('inspector'));
    const opened = s.platform.runnerOutput().includes('Debugger listening');
    const listed = await inspectorList();
    verdict(
      s.platform.name,
      'sigusr1-inspector',
      opened || Boolean(fromJob?.ok && String(fromJob.detail).includes(s.platform.runnerMain)),
      `runner printed "Debugger listening": ${opened}; inspector seen from the host: ${listed ? 'yes' : 'no'}; ${jobDetail(job, report)}`,
    );
  });

  it('SIGKILL to the parent and the runner leaves them running', async () => {
    const id = await run('kill-parent');
    // Until the job ended, or the runner is gone (then the job may never end).
    const ended = await waitFor(
      async () => {
        if (!s.platform.runnersAlive()) return 'the runner died';
        const r = await s.api('GET', `/api/jobs/${id}`, { token: s.token });
        return ['FINISHED', 'ERROR', 'FAILED', 'CANCELLED'].includes(r.json?.status)
          ? `job ${r.json.status}${r.json.reason ? ` (${r.json.reason})` : ''}`
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'the kill-parent job to end' },
    );
    const alive = s.platform.runnersAlive();
    verdict(s.platform.name, 'sigkill-parent', !alive, `runner alive: ${alive}; ${ended}`);
    expect((await s.api('GET', '/api/product/info')).status).toBe(200);
  });
}
