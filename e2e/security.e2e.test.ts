import { buildZip, waitFor } from '@im/testing';
import { client, type Api } from './http';
import { distributedDriver, standaloneDriver, type PlatformDriver } from './platforms';

/**
 * Issue #7 through the gateway, in both forms of the platform: security headers, no CORS by default,
 * `.djar` uploads that are not zips refused, and the audit trail (logins, configuration, macro, file
 * and job changes) reaching GET /api/audit for administrators only, without a secret in it.
 */
describe.each([
  ['standalone', standaloneDriver],
  ['distributed', distributedDriver],
] as const)('security, %s', (_name, makeDriver) => {
  const driver: PlatformDriver = makeDriver();
  const SECRET = 'e2e-Secure-Macro-Value-9f3a';
  const USER_PASSWORD = 'e2e-user-password-456';
  let api: Api;
  let token: string;

  const login = async (username: string, password: string) =>
    api('POST', '/api/login', { json: { username, password } });

  /** Waits until GET /api/audit with `query` lists an event matching `match`; returns the page. */
  const auditUntil = (query: string, match: (e: any) => boolean, what: string) =>
    waitFor(
      async () => {
        const r = await api('GET', `/api/audit?size=100&${query}`, { token });
        expect(r.status).toBe(200);
        return r.json.items.some(match) ? r.json : undefined;
      },
      { timeoutMs: 30_000, what },
    );

  beforeAll(async () => {
    await driver.start();
    api = client(driver.url());
    const r = await login('admin', driver.adminPassword);
    expect(r.status).toBe(200);
    token = r.json.access_token;
  }, 120_000);

  afterAll(async () => {
    await driver.stop();
  }, 60_000);

  it('sends security headers and no CORS headers by default', async () => {
    const r = await api('GET', '/api/jobconfigs', { token, headers: { origin: 'https://evil.example' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(r.headers.get('strict-transport-security')).toMatch(/max-age=/);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
    expect(r.headers.get('x-powered-by')).toBeNull();
  });

  it('records a failed and a successful login, with the name given but never the password', async () => {
    const bad = await login('admin', 'wrong-password-for-audit');
    expect(bad.status).toBe(401);
    const ok = await login('admin', driver.adminPassword);
    expect(ok.status).toBe(200);
    const failed = await auditUntil(
      'action=login.failed',
      (e) => e.details.username === 'admin',
      'the failed login in the audit trail',
    );
    expect(failed.items[0]).toMatchObject({
      action: 'login.failed',
      outcome: 'failure',
      actor: null,
      service: 'auth',
      sourceIp: expect.any(String),
      requestId: expect.any(String),
    });
    const succeeded = await auditUntil(
      'action=login.succeeded',
      (e) => e.actor?.name === 'admin',
      'the successful login in the audit trail',
    );
    expect(succeeded.items[0]).toMatchObject({ outcome: 'success', accountId: expect.any(String) });
    const all = await api('GET', '/api/audit?size=500', { token });
    expect(all.text).not.toContain('wrong-password-for-audit');
    expect(all.text).not.toContain(driver.adminPassword);
  });

  it('records configuration, macro, file and job changes, never a secure value', async () => {
    const created = await api('POST', '/api/jobconfigs', {
      token,
      json: { name: 'audited config', active: true },
    });
    expect(created.status).toBe(201);
    const id = String(created.json.id);
    const macro = await api('POST', `/api/jobconfigs/${id}/macros`, {
      token,
      json: { key: 'DB_PASSWORD', value: SECRET, secure: true },
    });
    expect(macro.status).toBe(201);
    const pkg = await buildZip({ 'main.process': 'steps:\n  - log: hello\n' });
    const upload = await api('PUT', `/api/jobconfigs/${id}/files/p.djar`, {
      token,
      body: pkg,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(upload.status).toBe(201);
    const updated = await api('PUT', `/api/jobconfigs/${id}`, {
      token,
      json: {
        name: 'audited config',
        active: true,
        runtimeConfig: {
          packageName: 'p.djar',
          entryPoint: 'main.process',
          macros: [{ key: 'DB_PASSWORD', value: `${SECRET}-2`, secure: true }],
        },
      },
    });
    expect(updated.status).toBe(200);

    const page = await auditUntil(
      `resourceType=jobconfig&resourceId=${id}&action=jobconfig.updated`,
      () => true,
      'the configuration change in the audit trail',
    );
    expect(page.items[0]).toMatchObject({
      actor: { name: 'admin' },
      resource: { type: 'jobconfig', id },
      service: 'jobconfig',
      details: { name: 'audited config', active: true },
    });
    await auditUntil('action=jobconfig.created', (e) => e.resource?.id === id, 'jobconfig.created');
    await auditUntil('action=macro.created', (e) => e.resource?.id === `${id}/DB_PASSWORD`, 'macro.created');
    await auditUntil('action=file.stored', (e) => e.resource?.id === `${id}/p.djar`, 'file.stored');
    const job = await api('POST', `/api/jobconfigs/${id}/jobs`, { token, json: {} });
    expect(job.status).toBe(202);
    await auditUntil('action=job.submitted', (e) => e.resource?.id === job.json.id, 'job.submitted');
    const all = await api('GET', '/api/audit?size=500', { token });
    expect(all.text).not.toContain(SECRET);
  });

  it('refuses a .djar that is not a zip with 400 NOT_A_ZIP, storing nothing', async () => {
    const created = await api('POST', '/api/jobconfigs', { token, json: { name: 'zip check' } });
    const id = String(created.json.id);
    const r = await api('PUT', `/api/jobconfigs/${id}/files/evil.djar`, {
      token,
      body: Buffer.from('#!/bin/sh\necho this is not a zip\n'),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(r.json).toMatchObject({ code: 'NOT_A_ZIP' });
    expect((await api('GET', `/api/jobconfigs/${id}/files`, { token })).json.totalRecords).toBe(0);
  });

  it('answers GET /api/audit with 403 to a user who is not an administrator', async () => {
    const u = await api('POST', '/api/users', {
      token,
      json: { name: 'audit-reader', password: USER_PASSWORD, roles: ['user'] },
    });
    expect(u.status).toBe(201);
    await auditUntil('action=user.created', (e) => e.resource?.id === String(u.json.id), 'user.created');
    const theirs = await login('audit-reader', USER_PASSWORD);
    expect(theirs.status).toBe(200);
    const r = await api('GET', '/api/audit', { token: theirs.json.access_token });
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ code: 'FORBIDDEN' });
    expect((await api('GET', '/api/audit')).status).toBe(401);
  });
});
