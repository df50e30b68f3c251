import { buildSamplePackage, buildZip, waitFor } from '@im/testing';
import { client, type Api, type ApiResponse } from './http';
import { distributedDriver, standaloneDriver, type PlatformDriver } from './platforms';

/**
 * The access-control matrix, generated from the OpenAPI document the platform serves: every operation
 * is called as every kind of caller and each answer is asserted. Resources belong to U1, a general user
 * of account A; A1 is A's administrator, U2 another general user of A; account B has its admin B1 and
 * a general user V1. An operation in the document without a rule in {@link RULES} fails the test, so a
 * new route cannot ship without deciding who may call it.
 */

type Caller = 'anonymous' | 'bad-signature' | 'edited-claims' | 'V1' | 'U2' | 'B1' | 'U1' | 'A1';
/** Denied callers first, the ones allowed last: a destructive call that wrongly succeeded shows up. */
const CALLERS: Caller[] = ['anonymous', 'bad-signature', 'edited-claims', 'V1', 'U2', 'B1', 'U1', 'A1'];

/**
 * Who may call an operation.
 * - public: anyone, without a token;
 * - any-user: any signed-in user, acting on themselves (their session, their account);
 * - owned-list: any signed-in user; the list holds only what they may see (U1's resource: U1 and A1);
 * - owned: the resource's owner (U1) or an admin of its account (A1); to anyone else it does not exist (404);
 * - admin: admins of any account, on their own account (general users 403);
 * - installation-admin: admins of the installation's first account only (others 403);
 * - account-user: U1 as a user of account A: admins of A and U1 themselves; others 404;
 * - account-user-admin: admins of A change a user of A; general users 403 (admins only); admins of B 404.
 */
type Rule =
  | 'public'
  | 'any-user'
  | 'owned-list'
  | 'owned'
  | 'admin'
  | 'installation-admin'
  | 'account-user'
  | 'account-user-admin';

type Expect = '2xx' | 401 | 403 | 404;

function expected(rule: Rule, who: Caller): Expect {
  if (rule === 'public') return '2xx';
  if (who === 'anonymous' || who === 'bad-signature' || who === 'edited-claims') return 401;
  const generalUser = who === 'V1' || who === 'U2' || who === 'U1';
  switch (rule) {
    case 'any-user':
    case 'owned-list':
      return '2xx';
    case 'owned':
      return who === 'U1' || who === 'A1' ? '2xx' : 404;
    case 'admin':
      return generalUser ? 403 : '2xx';
    case 'installation-admin':
      return who === 'A1' ? '2xx' : 403;
    case 'account-user':
      return who === 'A1' || who === 'U1' ? '2xx' : 404;
    case 'account-user-admin':
      return generalUser ? 403 : who === 'B1' ? 404 : '2xx';
  }
}

interface Ctx {
  api: Api;
  tokens: Record<'A1' | 'U1' | 'U2' | 'B1' | 'V1', string>;
  accountA: string;
  accountB: string;
  ids: { config: string; job: string; user: string; macro: string; file: string; pkg: string };
  /** U1's own calls (fresh resources for destructive operations). */
  asU1(method: string, path: string, opts?: Parameters<Api>[2]): Promise<ApiResponse>;
  asA1(method: string, path: string, opts?: Parameters<Api>[2]): Promise<ApiResponse>;
  unique(prefix: string): string;
}

type Params = Record<string, string>;
type Body = Omit<NonNullable<Parameters<Api>[2]>, 'token'>;

interface RouteRule {
  rule: Rule;
  /** Path parameters: ids of real resources (U1's unless the rule says otherwise). */
  params?: (c: Ctx) => Params | Promise<Params>;
  /** Destructive: every caller expected to succeed gets resources of its own from `params`. */
  fresh?: boolean;
  body?: (c: Ctx, who: Caller) => Body | Promise<Body>;
  /** A query string for the call (with its `?`). */
  query?: (c: Ctx) => string;
  /** For lists: the id that only callers allowed to see U1's resource find in `items`. */
  listed?: (c: Ctx) => string;
  /** Served but not in the OpenAPI document (checked too; the test says so if it gets documented). */
  undocumented?: true;
}

const json = (v: unknown): Body => ({ json: v });
const config = (c: Ctx) => ({ id: c.ids.config });
const job = (c: Ctx) => ({ id: c.ids.job });
const newConfig = async (c: Ctx, name = c.unique('cfg')) =>
  (await c.asU1('POST', '/api/jobconfigs', { json: { name } })).json.id as string;

const RULES: Record<string, RouteRule> = {
  'GET /product/info': { rule: 'public' },
  'GET /.well-known/jwks.json': { rule: 'public' },
  'POST /login': {
    rule: 'public',
    body: () => json({ username: 'u1', password: 'u1-password-123' }),
  },
  'POST /login/refresh': {
    rule: 'public',
    // Single use: a fresh refresh token for every call.
    body: async (c) =>
      json({
        refresh_token: (
          await c.api('POST', '/api/login', { json: { username: 'u1', password: 'u1-password-123' } })
        ).json.refresh_token,
      }),
  },
  'POST /logout': { rule: 'any-user' },
  'GET /user': { rule: 'any-user' },
  'GET /account': { rule: 'any-user' },
  'GET /users': { rule: 'admin', listed: (c) => c.ids.user },
  'POST /users': {
    rule: 'admin',
    body: (c) => json({ name: c.unique('new-user'), password: 'a-long-password-1' }),
  },
  'GET /users/{id}': { rule: 'account-user', params: (c) => ({ id: c.ids.user }) },
  'PUT /users/{id}': {
    rule: 'account-user-admin',
    params: (c) => ({ id: c.ids.user }),
    body: () => json({ fullName: 'Changed By Matrix' }),
  },
  'POST /users/{id}/password': {
    rule: 'account-user-admin',
    fresh: true,
    params: async (c) => {
      const u = await c.asA1('POST', '/api/users', {
        json: { name: c.unique('pw-user'), password: 'a-long-password-1' },
      });
      return { id: u.json.id as string };
    },
    body: () => json({ newPassword: 'another-long-password-2' }),
  },
  'POST /accounts': {
    rule: 'installation-admin',
    body: (c) =>
      json({
        name: c.unique('Tenant'),
        admin: { name: c.unique('tenant-admin'), password: 'a-long-password-1' },
      }),
  },
  'GET /audit': { rule: 'admin' },
  'GET /jobconfigs': { rule: 'owned-list', listed: (c) => c.ids.config },
  'POST /jobconfigs': { rule: 'any-user', body: (c) => json({ name: c.unique('created') }) },
  'GET /jobconfigs/{id}': { rule: 'owned', params: config },
  'PUT /jobconfigs/{id}': {
    rule: 'owned',
    params: config,
    body: () =>
      json({
        name: 'matrix config',
        active: true,
        description: 'replaced',
        runtimeConfig: { packageName: 'samplePackage.djar', entryPoint: 'integrateXYZ.process' },
      }),
  },
  'PATCH /jobconfigs/{id}': { rule: 'owned', params: config, body: () => json({ description: 'patched' }) },
  'DELETE /jobconfigs/{id}': {
    rule: 'owned',
    fresh: true,
    params: async (c) => ({ id: await newConfig(c) }),
  },
  'GET /jobconfigs/{id}/package/entrypoints': { rule: 'owned', params: config },
  'GET /jobconfigs/{id}/macros': { rule: 'owned', params: config },
  'POST /jobconfigs/{id}/macros': {
    rule: 'owned',
    params: config,
    body: (c) => json({ key: c.unique('M').replace(/-/g, '_'), value: 'v' }),
  },
  'GET /jobconfigs/{id}/macros/{name}': {
    rule: 'owned',
    params: (c) => ({ id: c.ids.config, name: c.ids.macro }),
  },
  'PUT /jobconfigs/{id}/macros/{name}': {
    rule: 'owned',
    params: (c) => ({ id: c.ids.config, name: c.ids.macro }),
    body: () => json({ value: 'changed' }),
  },
  'DELETE /jobconfigs/{id}/macros/{name}': {
    rule: 'owned',
    fresh: true,
    params: async (c) => {
      const name = c.unique('DEL').replace(/-/g, '_');
      await c.asU1('PUT', `/api/jobconfigs/${c.ids.config}/macros/${name}`, { json: { value: 'x' } });
      return { id: c.ids.config, name };
    },
  },
  'POST /jobconfigs/{id}/macrobindings': { rule: 'owned', params: config },
  'GET /jobconfigs/{id}/schedule': { rule: 'owned', params: config },
  'PUT /jobconfigs/{id}/schedule': {
    rule: 'owned',
    params: config,
    body: () => json({ type: 'cron', cronSchedule: '0 0 0 1 1 ?' }),
  },
  'POST /jobconfigs/{id}/schedule': {
    rule: 'owned',
    // A configuration has one schedule: a new configuration for each creation.
    fresh: true,
    params: async (c) => ({ id: await newConfig(c) }),
    body: () => json({ type: 'cron', cronSchedule: '0 0 0 1 1 ?' }),
  },
  'DELETE /jobconfigs/{id}/schedule': {
    rule: 'owned',
    fresh: true,
    params: async (c) => {
      const id = await newConfig(c);
      await c.asU1('PUT', `/api/jobconfigs/${id}/schedule`, {
        json: { type: 'cron', cronSchedule: '0 0 0 1 1 ?' },
      });
      return { id };
    },
  },
  'GET /jobconfigs/{id}/files': { rule: 'owned', params: config },
  'POST /jobconfigs/{id}/files': {
    rule: 'owned',
    params: config,
    query: (c) => `?key=${c.unique('upload')}.txt`,
    body: () => ({ body: 'notes', headers: { 'content-type': 'text/plain' } }),
  },
  'GET /jobconfigs/{id}/files/{key}': {
    rule: 'owned',
    params: (c) => ({ id: c.ids.config, key: c.ids.file }),
  },
  'PUT /jobconfigs/{id}/files/{key}': {
    rule: 'owned',
    params: (c) => ({ id: c.ids.config, key: c.ids.file }),
    body: () => ({ body: 'replaced notes', headers: { 'content-type': 'text/plain' } }),
  },
  'DELETE /jobconfigs/{id}/files/{key}': {
    rule: 'owned',
    fresh: true,
    params: async (c) => {
      const key = `${c.unique('del')}.txt`;
      await c.asU1('PUT', `/api/jobconfigs/${c.ids.config}/files/${key}`, {
        body: 'x',
        headers: { 'content-type': 'text/plain' },
      });
      return { id: c.ids.config, key };
    },
  },
  'GET /jobconfigs/{id}/files/entrypoints/{key}': {
    rule: 'owned',
    params: (c) => ({ id: c.ids.config, key: c.ids.pkg }),
  },
  'POST /jobconfigs/{id}/jobs': { rule: 'owned', params: config },
  'GET /jobconfigs/{id}/jobs': { rule: 'owned', params: config },
  'GET /jobs': { rule: 'owned-list', listed: (c) => c.ids.job },
  // A stream of the caller's own jobs' changes; maxSeconds ends it so the answer can be read whole.
  'GET /jobs/events': { rule: 'any-user', query: () => '?maxSeconds=1' },
  'GET /jobs/{id}': { rule: 'owned', params: job },
  // Cancelling a finished job changes nothing: the same job serves every caller.
  'DELETE /jobs/{id}': { rule: 'owned', params: job },
  'GET /jobs/{id}/log': { rule: 'owned', params: job },
  'GET /jobs/{id}/package': { rule: 'owned', params: job },
  'GET /jobs/{id}/out/files': { rule: 'owned', params: job },
  'GET /jobs/{id}/out/files/{key}': {
    rule: 'owned',
    params: (c) => ({ id: c.ids.job, key: 'summary.json' }),
  },
};

/**
 * Both forms: standalone answers from one process; distributed goes through the gateway to each service,
 * and file-storage asks jobconfig over internal HTTP with the caller's token.
 */
describe.each([
  ['standalone', standaloneDriver],
  ['distributed', distributedDriver],
] as const)('access-control matrix, %s', (_name, makeDriver) => {
  const driver: PlatformDriver = makeDriver();
  let api: Api;
  let ctx: Ctx;
  let doc: { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  let seq = 0;

  const login = async (username: string, password: string) => {
    const r = await api('POST', '/api/login', { json: { username, password } });
    expect(r.status).toBe(200);
    return r.json.access_token as string;
  };

  beforeAll(async () => {
    await driver.start();
    api = client(driver.url());
    const a1 = await login('admin', driver.adminPassword);
    const as =
      (token: string) =>
      (method: string, path: string, opts: Parameters<Api>[2] = {}) =>
        api(method, path, { ...opts, token });
    const asA1 = as(a1);
    const mkUser = async (token: string, name: string, password: string) => {
      const r = await api('POST', '/api/users', { token, json: { name, password } });
      expect(r.status).toBe(201);
      return r.json;
    };
    const u1 = await mkUser(a1, 'u1', 'u1-password-123');
    await mkUser(a1, 'u2', 'u2-password-123');
    const b = await asA1('POST', '/api/accounts', {
      json: { name: 'Account B', admin: { name: 'b1', password: 'b1-password-123' } },
    });
    expect(b.status).toBe(201);
    const b1 = await login('b1', 'b1-password-123');
    await mkUser(b1, 'v1', 'v1-password-123');
    const tokens = {
      A1: a1,
      U1: await login('u1', 'u1-password-123'),
      U2: await login('u2', 'u2-password-123'),
      B1: b1,
      V1: await login('v1', 'v1-password-123'),
    };
    const asU1 = as(tokens.U1);

    // U1's resources: a runnable configuration with its package, a file, a macro, a schedule, a job.
    const cfg = (await asU1('POST', '/api/jobconfigs', { json: { name: 'matrix config' } })).json
      .id as string;
    expect(
      (
        await asU1('POST', `/api/jobconfigs/${cfg}/files?key=samplePackage.djar`, {
          body: buildSamplePackage(),
          headers: { 'content-type': 'application/octet-stream' },
        })
      ).status,
    ).toBe(201);
    await asU1('PUT', `/api/jobconfigs/${cfg}/files/notes.txt`, {
      body: 'notes',
      headers: { 'content-type': 'text/plain' },
    });
    const patched = await asU1('PATCH', `/api/jobconfigs/${cfg}`, {
      json: { runtimeConfig: { packageName: 'samplePackage.djar', entryPoint: 'integrateXYZ.process' } },
    });
    expect(patched.status).toBe(200);
    expect(
      (await asU1('PUT', `/api/jobconfigs/${cfg}/macros/CUSTOMER`, { json: { value: 'acme' } })).status,
    ).toBe(201);
    expect(
      (
        await asU1('PUT', `/api/jobconfigs/${cfg}/schedule`, {
          json: { type: 'cron', cronSchedule: '0 0 0 1 1 ?' },
        })
      ).status,
    ).toBe(200);
    const run = await asU1('POST', `/api/jobconfigs/${cfg}/jobs`);
    expect(run.status).toBe(202);
    await waitFor(
      async () =>
        (await asU1('GET', `/api/jobs/${run.json.id}`)).json.status === 'FINISHED' ? true : undefined,
      { timeoutMs: 30_000, what: "U1's job to finish" },
    );
    ctx = {
      api,
      tokens,
      accountA: u1.account.id,
      accountB: b.json.id,
      ids: {
        config: cfg,
        job: run.json.id,
        user: u1.id,
        macro: 'CUSTOMER',
        file: 'notes.txt',
        pkg: 'samplePackage.djar',
      },
      asU1,
      asA1,
      unique: (prefix) => `${prefix}-${++seq}`,
    };
    const served = await api('GET', '/api/openapi.json');
    expect(served.status).toBe(200);
    doc = served.json;
  }, 120_000);

  afterAll(async () => {
    await driver.stop();
  });

  const operations = () =>
    Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops)
        .filter((m) => ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'].includes(m))
        .map((m) => `${m.toUpperCase()} ${p}`),
    );

  it('has a rule for every operation of the OpenAPI document, and no rule for an operation it lacks', () => {
    const documented = new Set(operations());
    const missing = [...documented].filter((op) => !RULES[op]);
    const stale = Object.entries(RULES)
      .filter(([op, r]) => !r.undocumented && !documented.has(op))
      .map(([op]) => op);
    const nowDocumented = Object.entries(RULES)
      .filter(([op, r]) => r.undocumented && documented.has(op))
      .map(([op]) => op);
    expect({ missing, stale, nowDocumented }).toEqual({ missing: [], stale: [], nowDocumented: [] });
  });

  const tokenOf = (who: Caller): string | undefined => {
    const t = ctx.tokens;
    if (who === 'anonymous') return undefined;
    if (who === 'bad-signature') {
      // A1's token with one character of its signature changed.
      const [h, p, s] = t.A1.split('.') as [string, string, string];
      const i = Math.floor(s.length / 2);
      return `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
    }
    if (who === 'edited-claims') {
      // V1's token claiming to be an admin of account A, with V1's (now wrong) signature.
      const [h, p, s] = t.V1.split('.') as [string, string, string];
      const claims = {
        ...JSON.parse(Buffer.from(p, 'base64url').toString()),
        acc: ctx.accountA,
        roles: ['admin'],
      };
      return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    }
    return t[who];
  };

  it('answers every operation as its rule says, for every caller', async () => {
    const failures: string[] = [];
    let calls = 0;
    for (const [op, r] of Object.entries(RULES)) {
      const [method, template] = op.split(' ') as [string, string];
      const success2xx = r.undocumented
        ? undefined
        : Object.keys(doc.paths[template]?.[method.toLowerCase()]?.responses ?? {}).filter((s) =>
            /^2/.test(s),
          );
      const shared = r.params ? await r.params(ctx) : {};
      for (const who of CALLERS) {
        const want = expected(r.rule, who);
        const params = want === '2xx' && r.fresh && r.params ? await r.params(ctx) : shared;
        const path =
          `/api${template.replace(/\{(\w+)\}/g, (_m, k: string) => encodeURIComponent(params[k] ?? ''))}` +
          (r.query ? r.query(ctx) : '');
        const body = r.body ? await r.body(ctx, who) : {};
        const token = tokenOf(who);
        const res = await api(method, path, { ...body, ...(token ? { token } : {}) });
        calls++;
        const where = `${op} as ${who} (${path})`;
        if (want === '2xx') {
          if (res.status < 200 || res.status > 299) {
            failures.push(`${where}: expected 2xx, got ${res.status} ${res.text.slice(0, 200)}`);
            continue;
          }
          if (success2xx && !success2xx.includes(String(res.status)))
            failures.push(`${where}: ${res.status} is not a documented answer (${success2xx.join(', ')})`);
          if (r.listed) {
            const ids = ((res.json?.items ?? []) as { id: string }[]).map((i) => i.id);
            const maySee = who === 'U1' || who === 'A1';
            if (ids.includes(r.listed(ctx)) !== maySee)
              failures.push(`${where}: U1's resource ${maySee ? 'missing from' : 'listed in'} the answer`);
          }
        } else {
          if (res.status !== want)
            failures.push(`${where}: expected ${want}, got ${res.status} ${res.text.slice(0, 200)}`);
          else if (!/^application\/problem\+json/.test(res.headers.get('content-type') ?? ''))
            failures.push(`${where}: ${want} without a problem+json body`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(calls).toBe(Object.keys(RULES).length * CALLERS.length);
  }, 60_000);

  it('lets nobody deactivate themselves or change their own admin flag', async () => {
    const me = (await ctx.asA1('GET', '/api/user')).json.id as string;
    for (const json of [{ active: false }, { roles: ['user'] }]) {
      const r = await ctx.asA1('PUT', `/api/users/${me}`, { json });
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ code: 'VALIDATION_FAILED', detail: expect.stringMatching(/yourself/) });
    }
    // A general user cannot make themselves an admin either (403: admins only).
    const u2 = (await api('GET', '/api/user', { token: ctx.tokens.U2 })).json.id as string;
    expect(
      (await api('PUT', `/api/users/${u2}`, { token: ctx.tokens.U2, json: { roles: ['admin'] } })).status,
    ).toBe(403);
    expect((await ctx.asA1('GET', '/api/user')).json).toMatchObject({ active: true, roles: ['admin'] });
  });

  it('puts new users in the admin’s account and keeps accounts apart', async () => {
    const b1 = ctx.tokens.B1;
    const created = await api('POST', '/api/users', {
      token: b1,
      json: { name: ctx.unique('b-user'), password: 'a-long-password-1' },
    });
    expect(created.json.account).toMatchObject({ id: ctx.accountB, name: 'Account B' });
    const mine = await api('GET', '/api/account', { token: b1 });
    expect(mine.json).toMatchObject({ id: ctx.accountB, name: 'Account B' });
    // B1 lists only account B's users; A1 cannot see B's new user.
    const bUsers = (await api('GET', '/api/users?size=500', { token: b1 })).json.items as {
      account: { id: string };
    }[];
    expect(bUsers.every((u) => u.account.id === ctx.accountB)).toBe(true);
    expect((await ctx.asA1('GET', `/api/users/${created.json.id}`)).status).toBe(404);
    expect((await ctx.asA1('PUT', `/api/users/${created.json.id}`, { json: { active: false } })).status).toBe(
      404,
    );
  });

  it('deactivating a user refuses their login and token, cancels their waiting jobs and refuses runs of their configurations', async () => {
    const name = ctx.unique('leaver');
    const user = await ctx.asA1('POST', '/api/users', { json: { name, password: 'leaver-password-1' } });
    const token = await login(name, 'leaver-password-1');
    const asLeaver = (method: string, path: string, opts: Parameters<Api>[2] = {}) =>
      api(method, path, { ...opts, token });
    // A blocking configuration whose first job runs long: the second waits SEQUENCED behind it.
    const slow = await buildZip({
      'slow.mjs': `export default async function ({ logger }) { logger.info('slow job started'); await new Promise((r) => setTimeout(r, 120000)); }`,
    });
    const cfg = (await asLeaver('POST', '/api/jobconfigs', { json: { name: 'slow', blocking: true } })).json
      .id;
    await asLeaver('POST', `/api/jobconfigs/${cfg}/files?key=slow.djar`, {
      body: slow,
      headers: { 'content-type': 'application/octet-stream' },
    });
    await asLeaver('PATCH', `/api/jobconfigs/${cfg}`, {
      json: { runtimeConfig: { packageName: 'slow.djar', entryPoint: 'slow.mjs' } },
    });
    const running = (await asLeaver('POST', `/api/jobconfigs/${cfg}/jobs`)).json.id as string;
    const waiting = await asLeaver('POST', `/api/jobconfigs/${cfg}/jobs`);
    expect(waiting.json.status).toBe('SEQUENCED');

    const off = await ctx.asA1('PUT', `/api/users/${user.json.id}`, { json: { active: false } });
    expect(off.status).toBe(200);
    expect(off.json.active).toBe(false);

    // Its waiting job is cancelled, stopped by the admin who deactivated the user.
    const cancelled = await waitFor(
      async () => {
        const j = (await ctx.asA1('GET', `/api/jobs/${waiting.json.id}`)).json;
        return j.status === 'CANCELLED' ? j : undefined;
      },
      { timeoutMs: 10_000, what: 'the waiting job to be cancelled' },
    );
    expect(cancelled.stoppedByUser).toMatchObject({ name: 'admin' });
    // No login, and the token still within its lifetime is refused by every service.
    expect(
      (await api('POST', '/api/login', { json: { username: name, password: 'leaver-password-1' } })).status,
    ).toBe(401);
    expect((await asLeaver('GET', '/api/user')).status).toBe(401);
    expect((await asLeaver('GET', `/api/jobconfigs/${cfg}`)).status).toBe(401);
    expect((await asLeaver('GET', `/api/jobconfigs/${cfg}/files`)).status).toBe(401);
    // Its configurations do not run, not even when an admin asks.
    const refused = await ctx.asA1('POST', `/api/jobconfigs/${cfg}/jobs`);
    expect(refused.status).toBe(409);
    expect(refused.json.code).toBe('OWNER_INACTIVE');
    // Its running job runs on until stopped.
    expect((await ctx.asA1('DELETE', `/api/jobs/${running}`)).status).toBe(202);

    // Active again: the user logs in and runs again.
    expect((await ctx.asA1('PUT', `/api/users/${user.json.id}`, { json: { active: true } })).status).toBe(
      200,
    );
    const again = await login(name, 'leaver-password-1');
    await waitFor(
      async () =>
        (await api('GET', `/api/jobconfigs/${cfg}`, { token: again })).status === 200 ? true : undefined,
      { timeoutMs: 10_000, what: 'jobconfig to learn the user is active again' },
    );
  });
});
