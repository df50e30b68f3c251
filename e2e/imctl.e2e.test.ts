import { ImClient, ProblemError } from '@im/client';
import { buildSamplePackage } from '@im/testing';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { standaloneDriver, type PlatformDriver } from './platforms';

/**
 * imctl, the built CLI (services/imctl/dist/main.js), run as a user runs it against the standalone
 * platform: the quick start (login, a configuration, the sample package uploaded with progress, run
 * --wait), its errors and exit codes, and the session refreshing itself. HOME and XDG_CONFIG_HOME
 * point into a temp dir, so the config file is the test's own.
 */
const MAIN = path.resolve(__dirname, '..', 'services', 'imctl', 'dist', 'main.js');
/** What npm links as `imctl` (it loads dist/main.js). */
const BIN = path.resolve(__dirname, '..', 'services', 'imctl', 'bin', 'imctl.cjs');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The shell block of the README's "The CLI" section. */
function readmeCliBlock(): string {
  const readme = fs.readFileSync(path.resolve(__dirname, '..', 'README.md'), 'utf8');
  const section = readme.split(/^## The CLI$/m)[1];
  const block = section ? /```bash\n([\s\S]*?)```/.exec(section) : null;
  if (!block?.[1]) throw new Error('README.md has no bash block under "## The CLI"');
  return block[1];
}

describe("the README's five imctl commands", () => {
  const driver: PlatformDriver = standaloneDriver();
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imctl-readme-'));
    // The reader's working tree: the sample package where `npm run package:example` puts it.
    fs.mkdirSync(path.join(dir, 'examples', 'sample-package', 'build'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'examples', 'sample-package', 'build', 'samplePackage.djar'),
      buildSamplePackage(),
    );
    await driver.start();
  }, 120_000);

  afterAll(async () => {
    await driver.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('run as written (on a fresh platform, its URL put in) and end with the job FINISHED', async () => {
    // Only the platform's URL differs from the README; the login prompt's answer comes from IMCTL_PASSWORD.
    const script = `imctl() { node ${JSON.stringify(BIN)} "$@"; }\n${readmeCliBlock().replaceAll('http://127.0.0.1:8080', driver.url())}`;
    const r = await new Promise<Result>((resolve, reject) => {
      const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: dir,
          XDG_CONFIG_HOME: path.join(dir, 'xdg'),
          IMCTL_PASSWORD: driver.adminPassword,
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end();
    });
    if (r.code !== 0)
      throw new Error(`the README's CLI block failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    expect(r.stdout).toMatch(/^id:\s+1$/m);
    expect(r.stdout).toContain('[step:greet] starting job');
    expect(r.stderr).toMatch(/^job [0-9a-f-]{36} FINISHED, return code 0/m);
  });
});

describe('imctl against the standalone platform', () => {
  const driver: PlatformDriver = standaloneDriver();
  let home: string;
  let configFile: string;
  let pkgPath: string;
  let configId: string;
  let jobId: string;

  const imctl = (args: string[], input = ''): Promise<Result> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: home,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: home,
          XDG_CONFIG_HOME: path.join(home, 'xdg'),
          IMCTL_POLL_MS: '200',
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input);
    });
  const ok = async (args: string[], input?: string): Promise<Result> => {
    const r = await imctl(args, input);
    if (r.code !== 0) throw new Error(`imctl ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
    return r;
  };
  const readConfig = () => JSON.parse(fs.readFileSync(configFile, 'utf8'));

  beforeAll(async () => {
    if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
    expect(fs.statSync(BIN).mode & 0o111).toBe(0o111); // executable as committed, for npx imctl
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'imctl-e2e-'));
    configFile = path.join(home, 'xdg', 'imctl', 'config.json');
    pkgPath = path.join(home, 'samplePackage.djar');
    fs.writeFileSync(pkgPath, buildSamplePackage());
    await driver.start();
  }, 120_000);

  afterAll(async () => {
    await driver.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('says it is not logged in before login, with exit code 4', async () => {
    const r = await imctl(['jobconfigs', 'list']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('imctl: not logged in');
    expect(r.stderr).toContain('imctl login');
  });

  it('refuses a wrong password with the problem code and exit code 4', async () => {
    const r = await imctl(
      ['login', '--url', driver.url(), '--username', 'admin', '--password-stdin'],
      'not-the-password\n',
    );
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^imctl: 401 BAD_CREDENTIALS: /);
    expect(fs.existsSync(configFile)).toBe(false);
  });

  it('logs in with --password-stdin and keeps the session in a 0600 config file', async () => {
    const r = await ok(
      ['login', '--url', driver.url(), '--username', 'admin', '--password-stdin'],
      `${driver.adminPassword}\n`,
    );
    expect(r.stderr).toContain('Logged in');
    expect(fs.statSync(configFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(configFile)).mode & 0o777).toBe(0o700);
    const config = readConfig();
    expect(config).toEqual({
      url: `${driver.url()}/api`,
      username: 'admin',
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      expiresAt: expect.any(String),
    });
    expect(Date.parse(config.expiresAt)).toBeGreaterThan(Date.now());
    // The password is neither kept nor echoed.
    expect(fs.readFileSync(configFile, 'utf8')).not.toContain(driver.adminPassword);
    expect(r.stdout + r.stderr).not.toContain(driver.adminPassword);
    expect(r.stdout + r.stderr).not.toContain(config.accessToken);
  });

  it('creates, lists and gets a configuration (json and table output)', async () => {
    const created = JSON.parse(
      (
        await ok([
          'jobconfigs',
          'create',
          '--name',
          'cli config',
          '--description',
          'from imctl',
          '-o',
          'json',
        ])
      ).stdout,
    );
    expect(created).toMatchObject({ name: 'cli config', description: 'from imctl', active: true });
    configId = created.id;

    const list = JSON.parse((await ok(['jobconfigs', 'list', '--output', 'json'])).stdout);
    expect(list.items.map((c: { id: string }) => c.id)).toContain(configId);

    const table = (await ok(['jobconfigs', 'list'])).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+NAME\s+ACTIVE\s+PACKAGE\s+ENTRY POINT\s+LAST MODIFIED$/);
    expect(table.some((l) => new RegExp(`^${configId}\\s+cli config\\s+true`).test(l))).toBe(true);

    const got = JSON.parse((await ok(['jobconfigs', 'get', configId, '-o', 'json'])).stdout);
    expect(got).toEqual(created);
    expect((await ok(['jobconfigs', 'get', configId])).stdout).toMatch(/^name:\s+cli config$/m);
  });

  it('uploads the sample package showing its progress, and lists it', async () => {
    const r = await ok(['files', 'upload', configId, pkgPath, '-o', 'json']);
    // stderr is not a terminal here: progress comes as percentage lines.
    expect(r.stderr).toMatch(/^upload samplePackage\.djar: 0% \(0 B of .+\)$/m);
    expect(r.stderr).toMatch(/^upload samplePackage\.djar: 100% \(.+ of .+\)$/m);
    const file = JSON.parse(r.stdout);
    expect(file).toMatchObject({ name: 'samplePackage.djar', metadata: { size: fs.statSync(pkgPath).size } });

    const files = JSON.parse((await ok(['files', 'list', configId, '-o', 'json'])).stdout);
    expect(files.items.map((f: { name: string }) => f.name)).toEqual(['samplePackage.djar']);

    const entryPoints = await ok(['jobconfigs', 'entrypoints', configId, 'samplePackage.djar']);
    expect(entryPoints.stdout.split('\n')).toContain('integrateXYZ.process');

    const download = await ok([
      'files',
      'download',
      configId,
      'samplePackage.djar',
      '--out',
      path.join(home, 'copy.djar'),
    ]);
    expect(download.stderr).toMatch(/^download samplePackage\.djar: 100% /m);
    expect(fs.readFileSync(path.join(home, 'copy.djar')).equals(fs.readFileSync(pkgPath))).toBe(true);
  });

  it('points the configuration at the package and its entry point', async () => {
    const updated = JSON.parse(
      (
        await ok([
          'jobconfigs',
          'update',
          configId,
          '--package',
          'samplePackage.djar',
          '--entry-point',
          'integrateXYZ.process',
          '-o',
          'json',
        ])
      ).stdout,
    );
    expect(updated.runtimeConfig).toMatchObject({
      packageName: 'samplePackage.djar',
      entryPoint: 'integrateXYZ.process',
    });
    // PATCH: the other fields stay.
    expect(updated).toMatchObject({ name: 'cli config', description: 'from imctl' });
  });

  it('runs it with --wait: exit 0 on FINISHED, the status changes on stderr', async () => {
    const r = await ok(['run', configId, '--wait', '-o', 'json']);
    const job = JSON.parse(r.stdout);
    expect(job.status).toBe('FINISHED');
    expect(r.stderr).toMatch(new RegExp(`^job ${job.id}: FINISHED$`, 'm'));
    jobId = job.id;

    const log = await ok(['jobs', 'log', jobId]);
    expect(log.stdout.length).toBeGreaterThan(0);
    const jobs = JSON.parse((await ok(['jobs', 'list', '--config', configId, '-o', 'json'])).stdout);
    expect(jobs.items.map((j: { id: string }) => j.id)).toContain(jobId);
    expect((await ok(['jobs', 'get', jobId])).stdout).toMatch(/^status:\s+FINISHED$/m);
    const outputs = await ok(['jobs', 'output', jobId]);
    expect(outputs.stdout).toMatch(/^NAME\s+SIZE\s+LAST MODIFIED\nsummary\.json\s+\d+\s+\S+\n$/);
    const summary = JSON.parse((await ok(['jobs', 'output', jobId, 'summary.json', '-O', '-'])).stdout);
    expect(summary).toEqual(expect.any(Object));
    const cancel = await ok(['jobs', 'cancel', jobId, '-o', 'json']);
    expect(JSON.parse(cancel.stdout).status).toBe('FINISHED');
    expect(cancel.stderr).toContain('had ended already (FINISHED): nothing to cancel');
  });

  it('@im/client works on the session imctl keeps: reads, uploads with progress, streams, and throws problems', async () => {
    const stored = readConfig();
    const saved: string[] = [];
    const c = new ImClient({
      baseUrl: stored.url,
      tokens: {
        accessToken: stored.accessToken,
        refreshToken: stored.refreshToken,
        expiresAt: Date.parse(stored.expiresAt),
      },
      onTokens: (t) => void saved.push(t?.accessToken ?? ''),
    });
    const job = await c.jobs.get(jobId);
    expect(job).toMatchObject({ id: jobId, status: 'FINISHED', jobConfig: { id: configId } });
    expect((await c.jobs.listForConfig(configId)).items.map((j) => j.id)).toContain(jobId);
    expect(await c.jobs.logText(jobId)).toBe((await ok(['jobs', 'log', jobId])).stdout);

    const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
    const progress: number[] = [];
    const file = await c.files.upload(configId, 'data.bin', bytes, {
      onProgress: (sent) => progress.push(sent),
    });
    expect(file.metadata.size).toBe(bytes.byteLength);
    expect(progress[0]).toBe(0);
    expect(progress.at(-1)).toBe(bytes.byteLength);
    expect(progress.length).toBeGreaterThan(2);
    const d = await c.files.download(configId, 'data.bin');
    expect(d.size).toBe(bytes.byteLength);
    expect(Buffer.from(await new Response(d.body).arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
    await c.files.delete(configId, 'data.bin');

    const problem = await c.jobConfigs.update(configId, { name: ' ' }).catch((e: unknown) => e);
    expect(problem).toBeInstanceOf(ProblemError);
    expect(problem).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', errors: [{ path: 'name' }] });
    expect(saved).toEqual([]); // the session was fresh: nothing refreshed
  });

  it('runs it with --follow: the log on stdout, then the final status', async () => {
    const r = await ok(['run', configId, '--follow']);
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/^job [0-9a-f-]{36} FINISHED, return code 0/m);
  });

  it('reports a problem answer as one line with its code, and exit code 3', async () => {
    const r = await imctl(['jobconfigs', 'get', '999999']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^imctl: 404 NOT_FOUND: .+/);
    expect(r.stdout).toBe('');

    const invalid = await imctl(['jobconfigs', 'update', configId, '--name', '   ']);
    expect(invalid.code).toBe(3);
    expect(invalid.stderr).toMatch(/^imctl: 400 VALIDATION_FAILED: .+\n {2}- name: must not be empty$/m);

    const usage = await imctl(['jobconfigs', 'frobnicate']);
    expect(usage.code).toBe(64);
  });

  it('refreshes an expired access token by itself and keeps the new session', async () => {
    const before = readConfig();
    fs.writeFileSync(
      configFile,
      JSON.stringify({ ...before, expiresAt: new Date(Date.now() - 60_000).toISOString() }),
    );
    await ok(['jobconfigs', 'get', configId]);
    const after = readConfig();
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(Date.parse(after.expiresAt)).toBeGreaterThan(Date.now());
    expect(fs.statSync(configFile).mode & 0o777).toBe(0o600);

    // Commands run side by side on one expired session: each ends well, whichever refreshed it.
    fs.writeFileSync(configFile, JSON.stringify({ ...readConfig(), expiresAt: new Date(0).toISOString() }));
    const parallel = await Promise.all(
      [1, 2, 3, 4].map(() => imctl(['jobconfigs', 'get', configId, '-o', 'json'])),
    );
    expect(parallel.map((r) => ({ code: r.code, stderr: r.stderr }))).toEqual(
      parallel.map(() => ({ code: 0, stderr: '' })),
    );
    await ok(['jobconfigs', 'get', configId]);
    const afterParallel = readConfig();

    // A token the server refuses (here: not a token at all) is refreshed on its 401 too.
    fs.writeFileSync(configFile, JSON.stringify({ ...afterParallel, accessToken: 'expired.or.revoked' }));
    await ok(['jobconfigs', 'get', configId]);
    expect(readConfig().accessToken).not.toBe('expired.or.revoked');
  });

  it('asks for the password on a terminal (a pty from script(1)) without echoing it', async () => {
    fs.rmSync(configFile);
    const command = [process.execPath, BIN, 'login', '--url', driver.url(), '--username', 'admin']
      .map((a) => JSON.stringify(a))
      .join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: home,
      env: { PATH: process.env.PATH ?? '', HOME: home, XDG_CONFIG_HOME: path.join(home, 'xdg') },
    });
    let output = '';
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        output += d;
        if (output.includes('Password for admin: ')) resolve();
      });
      void closed.then(() => reject(new Error(`imctl login ended before asking:\n${output}`)));
    });
    child.stdin.write(`${driver.adminPassword}\r`);
    const code = await closed;
    child.stdin.end();
    expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining('Logged in') });
    expect(output).not.toContain(driver.adminPassword);
    expect(fs.statSync(configFile).mode & 0o777).toBe(0o600);
    await ok(['jobconfigs', 'get', configId]);
  });

  it('manages users, deletes files and configurations, prints completion scripts, and logs out', async () => {
    const users = JSON.parse((await ok(['users', 'list', '-o', 'json'])).stdout);
    expect(users.items.map((u: { name: string }) => u.name)).toContain('admin');

    const bob = JSON.parse(
      (
        await ok(
          ['users', 'create', 'bob', '--full-name', 'Bob B', '--password-stdin', '-o', 'json'],
          'a-long-secret-phrase-1\n',
        )
      ).stdout,
    );
    expect(bob).toMatchObject({ name: 'bob', fullName: 'Bob B', roles: ['user'], active: true });
    const inactive = JSON.parse((await ok(['users', 'update', bob.id, '--inactive', '-o', 'json'])).stdout);
    expect(inactive.active).toBe(false);
    expect((await ok(['users', 'get', bob.id])).stdout).toMatch(/^active:\s+false$/m);

    const other = JSON.parse(
      (await ok(['jobconfigs', 'create', '--name', 'to delete', '-o', 'json'])).stdout,
    );
    await ok(['files', 'upload', other.id, pkgPath, '--key', 'x.djar']);
    expect((await ok(['files', 'delete', other.id, 'x.djar'])).stderr).toContain('Deleted x.djar');
    expect(JSON.parse((await ok(['files', 'list', other.id, '-o', 'json'])).stdout).items).toEqual([]);
    await ok(['jobconfigs', 'delete', other.id]);
    const gone = await imctl(['jobconfigs', 'get', other.id]);
    expect({ code: gone.code, stderr: gone.stderr }).toEqual({
      code: 3,
      stderr: expect.stringMatching(/^imctl: 404 NOT_FOUND: /),
    });

    const bash = (await ok(['completion', 'bash'])).stdout;
    expect(bash).toContain('complete -o filenames -F _imctl imctl');
    expect(bash).toContain('jobconfigs|jc)');
    expect((await ok(['completion', 'zsh'])).stdout).toContain('bashcompinit');

    await ok(['logout']);
    expect(fs.existsSync(configFile)).toBe(false);
    expect((await imctl(['jobs', 'list'])).code).toBe(4);
  });
});
