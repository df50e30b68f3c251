import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { runCli } from './cli';
import { EXIT } from './exit-codes';
import type { CliIo } from './io';
import { formatObject, formatTable } from './output';
import { progressReporter } from './progress';

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const problem = (status: number, code: string, detail: string, errors?: object[]) =>
  new Response(JSON.stringify({ type: 'about:blank', title: 't', status, code, detail, errors }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
const tokens = { access_token: 'acc-1', token_type: 'bearer', refresh_token: 'ref-1', expires_in: 3600 };

/** imctl in-process: a temp config dir, captured stdout/stderr, and a fake server answering in order. */
function harness(answers: Array<(url: URL, init: RequestInit) => Response>, env: NodeJS.ProcessEnv = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imctl-unit-'));
  const calls: Array<{ method: string; url: URL }> = [];
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    env: { XDG_CONFIG_HOME: dir, ...env },
    stdout: { write: (s: string | Uint8Array) => (stdout += String(s)) },
    stderr: { write: (s: string | Uint8Array) => (stderr += String(s)) },
    stdin: Readable.from([]),
    cwd: dir,
    pollMs: 1,
    fetch: async (input: string | URL | Request, init: RequestInit = {}) => {
      const url = new URL(String(input instanceof Request ? input.url : input));
      calls.push({ method: init.method ?? 'GET', url });
      const a = answers.shift();
      if (!a) throw new Error(`unexpected ${init.method} ${url.toString()}`);
      return a(url, init);
    },
  };
  const configFile = path.join(dir, 'imctl', 'config.json');
  const loggedIn = () => {
    fs.mkdirSync(path.dirname(configFile), { recursive: true });
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        url: 'http://im.test/api',
        username: 'admin',
        accessToken: 'acc-0',
        refreshToken: 'ref-0',
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    );
  };
  return {
    io,
    calls,
    configFile,
    loggedIn,
    run: (...args: string[]) => runCli(args, io),
    out: () => stdout,
    err: () => stderr,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

const job = (status: string, extra: object = {}) => ({
  id: '0b8f6a52-3f7e-4c2b-9d0c-4f8d7f1d2a11',
  status,
  reason: null,
  returnCode: null,
  duration: null,
  ...extra,
});

describe('imctl', () => {
  it('logs in with IMCTL_PASSWORD and writes the session to a 0600 file', async () => {
    const h = harness([() => json(200, tokens)], { IMCTL_PASSWORD: 'the-password-123' });
    expect(await h.run('login', '--url', 'http://im.test:8080', '--username', 'admin')).toBe(0);
    expect(h.calls[0]!.url.toString()).toBe('http://im.test:8080/api/login');
    const stored = JSON.parse(fs.readFileSync(h.configFile, 'utf8'));
    expect(stored).toMatchObject({ url: 'http://im.test:8080/api', username: 'admin', accessToken: 'acc-1' });
    expect(fs.statSync(h.configFile).mode & 0o777).toBe(0o600);
    expect(h.err() + h.out()).not.toContain('the-password-123');
    h.cleanup();
  });

  it('asks for a password source instead of hanging when stdin is not a terminal', async () => {
    const h = harness([]);
    expect(await h.run('login', '--url', 'http://im.test', '--username', 'admin')).toBe(EXIT.USAGE);
    expect(h.err()).toContain('imctl: no password given');
    expect(h.err()).toContain('--password-stdin');
    h.cleanup();
  });

  it('prints a problem as one line with its field errors and a hint; exit code 3, 4 for 401', async () => {
    const h = harness([
      () =>
        problem(400, 'VALIDATION_FAILED', 'The request body is not valid.', [
          { path: 'name', message: 'bad' },
        ]),
      () => problem(403, 'FORBIDDEN', 'Administrators only.'),
      () => problem(401, 'UNAUTHENTICATED', 'The refresh token is not valid.'),
      () => problem(401, 'UNAUTHENTICATED', 'The refresh token is not valid.'),
    ]);
    h.loggedIn();
    expect(await h.run('jobconfigs', 'create', '--name', 'x')).toBe(EXIT.REFUSED);
    expect(h.err()).toBe('imctl: 400 VALIDATION_FAILED: The request body is not valid.\n  - name: bad\n');
    expect(await h.run('users', 'list')).toBe(EXIT.REFUSED);
    expect(h.err()).toContain('hint: this needs an administrator');
    expect(await h.run('jobs', 'list')).toBe(EXIT.NOT_LOGGED_IN);
    expect(h.err()).toContain('run `imctl login` again');
    h.cleanup();
  });

  it('says so when the platform cannot be reached (exit code 5)', async () => {
    const h = harness([
      () => {
        throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
      },
    ]);
    h.loggedIn();
    expect(await h.run('jobs', 'list')).toBe(EXIT.UNREACHABLE);
    expect(h.err()).toContain('imctl: cannot reach the platform: ECONNREFUSED');
    h.cleanup();
  });

  it.each([
    ['FINISHED', EXIT.OK],
    ['ERROR', EXIT.JOB_ERROR],
    ['FAILED', EXIT.JOB_FAILED],
    ['CANCELLED', EXIT.JOB_FAILED],
  ])('run --wait ending %s exits %i', async (status, code) => {
    const h = harness([
      () => json(202, job('QUEUED')),
      () => json(200, job('RUNNING')),
      () => json(200, job(status, { returnCode: 0 })),
    ]);
    h.loggedIn();
    expect(await h.run('run', '7', '--wait', '-o', 'json')).toBe(code);
    expect(JSON.parse(h.out()).status).toBe(status);
    expect(h.err()).toContain(`: QUEUED\n`);
    expect(h.err()).toContain(`: RUNNING\n`);
    expect(h.err()).toContain(`: ${status}\n`);
    expect(h.calls[0]!.method).toBe('POST');
    expect(h.calls[0]!.url.pathname).toBe('/api/jobconfigs/7/jobs');
    h.cleanup();
  });

  it('run --follow streams the log to stdout, then the status to stderr', async () => {
    const h = harness([
      () => json(202, job('QUEUED')),
      (url) => {
        expect(url.searchParams.get('follow')).toBe('true');
        return new Response('hello from the job\n', { status: 200 });
      },
      () => json(200, job('FINISHED', { returnCode: 0, duration: 1500 })),
    ]);
    h.loggedIn();
    expect(await h.run('run', '7', '--follow', '--macro', 'A=b=c')).toBe(0);
    expect(h.out()).toBe('hello from the job\n');
    expect(h.err()).toMatch(/job \S+ FINISHED, return code 0, 1\.5 s\n$/);
    h.cleanup();
  });

  it('run --follow opens the log again when it ends early, without printing a line twice', async () => {
    const h = harness([
      () => json(202, job('QUEUED')),
      () => new Response('line 1\nline 2\n', { status: 200 }), // cut by a proxy while the job runs
      () => json(200, job('RUNNING')),
      () => new Response('line 1\nline 2\nline 3\n', { status: 200 }),
      () => json(200, job('FINISHED', { returnCode: 0 })),
    ]);
    h.loggedIn();
    expect(await h.run('run', '7', '--follow')).toBe(0);
    expect(h.out()).toBe('line 1\nline 2\nline 3\n');
    h.cleanup();
  });

  it('run --follow reads the tail after a dropped connection once the job has ended', async () => {
    const h = harness([
      () => json(202, job('QUEUED')),
      () =>
        new Response(
          new ReadableStream({
            start(ctl) {
              ctl.enqueue(new TextEncoder().encode('line 1\n'));
              ctl.error(new TypeError('terminated'));
            },
          }),
          { status: 200 },
        ),
      () => json(200, job('ERROR', { returnCode: 3 })),
      (url) => {
        expect(url.searchParams.get('follow')).toBeNull();
        return new Response('line 1\nline 2\n', { status: 200 });
      },
    ]);
    h.loggedIn();
    expect(await h.run('run', '7', '--follow')).toBe(EXIT.JOB_ERROR);
    expect(h.out()).toBe('line 1\nline 2\n');
    h.cleanup();
  });

  it('prints a list as a table, and says when there are more pages', async () => {
    const users = [
      { id: '1', name: 'admin', roles: ['admin'], active: true, email: null, fullName: 'Administrator' },
    ];
    const h = harness([
      (url) => {
        expect(url.searchParams.get('offset')).toBe('1');
        expect(url.searchParams.get('size')).toBe('1');
        return json(200, { totalRecords: 3, totalPages: 3, size: 1, pageNumber: 1, items: users, links: {} });
      },
    ]);
    h.loggedIn();
    expect(await h.run('users', 'list', '--page', '1', '--size', '1')).toBe(0);
    expect(h.out()).toBe(
      'ID  NAME   ROLES  ACTIVE  EMAIL  FULL NAME\n1   admin  admin  true    -      Administrator\n',
    );
    expect(h.err()).toBe('page 2 of 3 (3 in all): --page <n> (from 0) for the others\n');
    h.cleanup();
  });

  it('lists the exit codes in its help', async () => {
    const h = harness([]);
    expect(await h.run('--help')).toBe(0);
    expect(h.out()).toContain('Exit codes: 0 done');
    expect(h.out()).toContain('jobconfigs|jc');
    h.cleanup();
  });

  it('refuses a usage error with exit code 64', async () => {
    const h = harness([]);
    expect(await h.run('jobconfigs', 'get')).toBe(EXIT.USAGE);
    expect(h.err()).toContain("missing required argument 'id'");
    expect(await h.run('--output', 'yaml', 'jobs', 'list')).toBe(EXIT.USAGE);
    h.cleanup();
  });
});

describe('progress', () => {
  it('prints a line at 0%, each tenth and 100% when not on a terminal', () => {
    let s = '';
    const p = progressReporter('upload p.djar', { write: (x: string) => (s += x) });
    for (let sent = 0; sent <= 2000; sent += 100) p.update(sent, 2000);
    p.done();
    const lines = s.trim().split('\n');
    expect(lines[0]).toBe('upload p.djar: 0% (0 B of 2.0 kB)');
    expect(lines).toHaveLength(11);
    expect(lines[10]).toBe('upload p.djar: 100% (2.0 kB of 2.0 kB)');
  });

  it('redraws one bar line on a terminal', () => {
    let s = '';
    let t = 0;
    const p = progressReporter(
      'up',
      { write: (x: string) => (s += x), isTTY: true, columns: 80 },
      () => (t += 200),
    );
    p.update(0, 100);
    p.update(50, 100);
    p.update(100, 100);
    p.done();
    expect(s).toContain('\rup [');
    expect(s).toContain(' 50% ');
    expect(s.endsWith('100% 100 B/100 B\n')).toBe(true);
  });
});

describe('output', () => {
  it('pads table columns and flattens objects', () => {
    expect(
      formatTable(
        [
          { id: '1', n: 'a' },
          { id: '10', n: null },
        ],
        [
          { header: 'ID', value: (r) => r.id },
          { header: 'NAME', value: (r) => r.n },
        ],
      ),
    ).toBe('ID  NAME\n1   a\n10  -\n');
    expect(formatObject({ a: 1, b: { c: ['x', 'y'] } })).toBe('a:   1\nb.c: x,y\n');
  });
});
