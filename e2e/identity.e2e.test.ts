import { waitFor } from '@im/testing';
import * as http from 'node:http';
import { client, type Api } from './http';
import { distributedDriver, standaloneDriver, type PlatformDriver } from './platforms';

/** What a login from one source address (any of 127.0.0.0/8 on Linux's lo) gets: the status. */
function loginFrom(
  baseUrl: string,
  localAddress: string,
  body: { username: string; password: string },
  headers: Record<string, string> = {},
): Promise<number> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${baseUrl}/api/login`,
      {
        method: 'POST',
        localAddress,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          ...headers,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Issue #13, items 5 and 7, through the gateway in both forms of the platform: a demoted admin's
 * still-valid token loses the role within 5 s in every service; failed logins from other addresses
 * do not lock the real user out; X-Forwarded-For from a client that is not a configured proxy
 * changes neither the address the throttle counts nor the one the audit records.
 */
describe.each([
  ['standalone', standaloneDriver],
  ['distributed', distributedDriver],
] as const)('identity, %s', (_name, makeDriver) => {
  const driver: PlatformDriver = makeDriver();
  const PASSWORD = 'e2e-identity-pass-4821';
  let api: Api;
  let admin: string;
  const as = (token: string) => ({
    get: (p: string) => api('GET', p, { token }),
    post: (p: string, json: unknown) => api('POST', p, { token, json }),
    put: (p: string, json: unknown) => api('PUT', p, { token, json }),
  });
  const login = async (username: string, password = PASSWORD) => {
    const r = await api('POST', '/api/login', { json: { username, password } });
    expect(r.status).toBe(200);
    return r.json.access_token as string;
  };
  const createUser = async (name: string, roles: string[]) => {
    const r = await as(admin).post('/api/users', { name, password: PASSWORD, roles });
    expect(r.status).toBe(201);
    return r.json.id as string;
  };

  beforeAll(async () => {
    await driver.start();
    api = client(driver.url());
    admin = await login('admin', driver.adminPassword);
  }, 120_000);

  afterAll(async () => {
    await driver.stop();
  }, 60_000);

  it("takes the admin role from a demoted admin's old token within 5 s, in every service", async () => {
    const eveId = await createUser('eve', ['admin']);
    const frankId = await createUser('frank', ['user']);
    const config = await as(admin).post('/api/jobconfigs', { name: 'admin config' });
    expect(config.status).toBe(201);
    const eve = await login('eve');
    expect((await as(eve).get('/api/users')).status).toBe(200);
    expect((await as(eve).get(`/api/jobconfigs/${config.json.id}`)).status).toBe(200);

    expect((await as(admin).put(`/api/users/${eveId}`, { roles: ['user'] })).status).toBe(200);
    const demotedAt = Date.now();
    // jobconfig (and file-storage through it) learns of it from user.changes; auth from its table.
    await waitFor(
      async () =>
        (await as(eve).get(`/api/jobconfigs/${config.json.id}`)).status === 404 ? true : undefined,
      { timeoutMs: 5000, intervalMs: 100, what: "jobconfig to take eve's admin role" },
    );
    expect((await as(eve).get(`/api/jobconfigs/${config.json.id}/files`)).status).toBe(404);
    const attempts = [
      await as(eve).post('/api/users', { name: 'mallory', password: PASSWORD, roles: ['admin'] }),
      await as(eve).post(`/api/users/${frankId}/password`, { newPassword: 'taken-over-4821-x' }),
      await as(eve).put(`/api/users/${eveId}`, { roles: ['admin'] }),
    ];
    expect(attempts.map((r) => r.status)).toEqual([403, 403, 403]);
    expect(Date.now() - demotedAt).toBeLessThan(5000);
    expect((await as(admin).get(`/api/users/${eveId}`)).json.roles).toEqual(['user']);
    expect(
      (await api('POST', '/api/login', { json: { username: 'frank', password: PASSWORD } })).status,
    ).toBe(200);
  });

  it('does not lock a user out by failures from other addresses, nor count a forged X-Forwarded-For', async () => {
    await createUser('bob', ['user']);
    const url = driver.url();
    const wrong = { username: 'bob', password: 'not-bobs-password-1' };
    // Five failures (AUTH_MAX_FAILED_LOGINS) from each of two other addresses, at once.
    const attack = await Promise.all(
      ['127.0.0.2', '127.0.0.3'].flatMap((ip) => Array.from({ length: 5 }, () => loginFrom(url, ip, wrong))),
    );
    expect(new Set(attack)).toEqual(new Set([401]));
    // From 127.0.0.4, five failures that each claim another address: they all count for 127.0.0.4.
    const forged = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        loginFrom(url, '127.0.0.4', wrong, { 'x-forwarded-for': `203.0.113.${i + 1}` }),
      ),
    );
    expect(new Set(forged)).toEqual(new Set([401]));
    const right = { username: 'bob', password: PASSWORD };
    expect(await loginFrom(url, '127.0.0.2', right)).toBe(401);
    expect(await loginFrom(url, '127.0.0.4', right, { 'x-forwarded-for': '203.0.113.99' })).toBe(401);
    // bob, from his own address, still gets in.
    expect(await loginFrom(url, '127.0.0.5', right)).toBe(200);
  }, 60_000);

  it('records the address the client connected from, not the one its X-Forwarded-For claims', async () => {
    const name = 'xff-probe';
    expect(
      await loginFrom(
        driver.url(),
        '127.0.0.6',
        { username: name, password: 'x-forged-probe-1' },
        {
          'x-forwarded-for': '203.0.113.77',
        },
      ),
    ).toBe(401);
    const page = await waitFor(
      async () => {
        const r = await as(admin).get('/api/audit?size=100&action=login.failed');
        expect(r.status).toBe(200);
        const hit = (r.json.items as { details: { username?: string } }[]).find(
          (e) => e.details.username === name,
        );
        return hit;
      },
      { timeoutMs: 30_000, what: 'the failed login in the audit trail' },
    );
    expect(page).toMatchObject({ action: 'login.failed', sourceIp: '127.0.0.6' });
  });
});
