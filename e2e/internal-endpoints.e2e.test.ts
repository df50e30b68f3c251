import { buildZip } from '@im/testing';
import * as http from 'node:http';
import { client } from './http';
import { distributedDriver, standaloneDriver, type PlatformDriver } from './platforms';

/**
 * Every HTTP endpoint that is not the public, token-checked API, walked without the credential it
 * wants (401 problem+json) and with it (200), on both platforms: `/metrics` of every process (the
 * metrics token), the ports of the services behind the gateway (the internal token; standalone has
 * none), and what stays open: `/healthz`, and `/readyz` without timings or reasons.
 */

/** A GET with a raw path, as written (fetch would resolve `..` itself before sending). */
function rawGet(base: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(`${base}/`, { method: 'GET', path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each([
  ['standalone', standaloneDriver],
  ['distributed', distributedDriver],
])('internal endpoints (%s)', (_name, makeDriver: () => PlatformDriver) => {
  const driver = makeDriver();
  let token: string;
  beforeAll(async () => {
    await driver.start();
    const login = await client(driver.url())('POST', '/api/login', {
      json: { username: 'admin', password: driver.adminPassword },
    });
    expect(login.status).toBe(200);
    token = login.json.access_token as string;
  }, 120_000);
  afterAll(() => driver.stop(), 60_000);

  it('serves /metrics of every process only with the metrics token', async () => {
    const urls = driver.processUrls();
    expect(Object.keys(urls).length).toBeGreaterThan(0);
    for (const [name, base] of Object.entries(urls)) {
      const denied: Record<string, string>[] = [
        {},
        { authorization: `Bearer ${token}` },
        { authorization: 'Bearer not-the-metrics-token' },
        ...(driver.internalToken() ? [{ 'x-internal-token': driver.internalToken() as string }] : []),
      ];
      for (const headers of denied) {
        const r = await fetch(`${base}/metrics`, { headers });
        const text = await r.text();
        expect([name, r.status, r.headers.get('content-type')]).toEqual([
          name,
          401,
          expect.stringContaining('application/problem+json'),
        ]);
        expect(JSON.parse(text).code).toBe('UNAUTHENTICATED');
        expect(text).not.toContain('process_cpu_seconds_total');
      }
      const ok = await fetch(`${base}/metrics`, {
        headers: { authorization: `Bearer ${driver.metricsToken()}` },
      });
      expect([name, ok.status]).toEqual([name, 200]);
      expect(await ok.text()).toContain('process_cpu_seconds_total');
    }
  });

  it('leaves /healthz and /readyz open, /readyz with names and up/down only', async () => {
    for (const [name, base] of Object.entries(driver.processUrls())) {
      expect([name, (await fetch(`${base}/healthz`)).status]).toEqual([name, 200]);
      const ready = await fetch(`${base}/readyz`);
      expect([name, ready.status]).toEqual([name, 200]);
      const body = (await ready.json()) as { status: string; checks: Record<string, object> };
      expect(body.status).toBe('ready');
      for (const check of Object.values(body.checks)) expect(check).toEqual({ status: 'up' });
      const detailed = await fetch(`${base}/readyz`, {
        headers: { authorization: `Bearer ${driver.metricsToken()}` },
      });
      const full = (await detailed.json()) as { checks: Record<string, { ms?: number }> };
      for (const check of Object.values(full.checks)) expect(typeof check.ms).toBe('number');
    }
  });

  it('answers the API of a service port only to a caller with the internal token (the gateway, the services)', async () => {
    const internal = driver.internalToken();
    const urls = driver.processUrls();
    const behindGateway = Object.keys(urls).filter((n) => ['auth', 'jobconfig', 'file-storage'].includes(n));
    if (!internal) {
      // Standalone: one port, the gateway's; no service port to reach.
      expect(Object.keys(urls)).toEqual(['standalone']);
      return;
    }
    expect(behindGateway.sort()).toEqual(['auth', 'file-storage', 'jobconfig']);
    const paths: Record<string, string> = {
      auth: '/api/.well-known/jwks.json',
      jobconfig: '/api/jobconfigs',
      'file-storage': '/api/jobconfigs/00000000-0000-4000-8000-000000000000/files',
    };
    for (const name of behindGateway) {
      const base = urls[name] as string;
      const path = paths[name] as string;
      // A valid user's token is not enough, nor a forged X-Forwarded-For, nor a wrong internal token.
      const refused: Record<string, string>[] = [
        { authorization: `Bearer ${token}` },
        { authorization: `Bearer ${token}`, 'x-forwarded-for': '203.0.113.9' },
        { authorization: `Bearer ${token}`, 'x-internal-token': 'guessed' },
      ];
      for (const headers of refused) {
        const r = await fetch(`${base}${path}`, { headers });
        expect([name, r.status]).toEqual([name, 401]);
        expect(r.headers.get('content-type')).toContain('application/problem+json');
      }
      // A login straight to auth's port (login throttling by address) is refused too.
      if (name === 'auth') {
        const login = await client(base)('POST', '/api/login', {
          json: { username: 'admin', password: driver.adminPassword },
        });
        expect(login.status).toBe(401);
        expect(login.json.access_token).toBeUndefined();
      }
      const ok = await fetch(`${base}${path}`, {
        headers: { authorization: `Bearer ${token}`, 'x-internal-token': internal },
      });
      // file-storage asks jobconfig about the (unknown) configuration: 404 from jobconfig, reached.
      expect([name, ok.status]).toEqual([name, name === 'file-storage' ? 404 : 200]);
    }
    // The runner has no API at all, whatever the caller sends.
    for (const [name, base] of Object.entries(urls).filter(([n]) => n.startsWith('job-runner'))) {
      const r = await fetch(`${base}/api/jobconfigs`, {
        headers: { authorization: `Bearer ${token}`, 'x-internal-token': internal },
      });
      expect([name, r.status]).toEqual([name, 404]);
    }
  });

  it("keeps the services' own endpoints out of the gateway's reach", async () => {
    const base = driver.url();
    for (const path of [
      '/api/jobconfigs/../../metrics',
      '/api/jobs/%2e%2e/%2e%2e/metrics',
      '/api/login/..\\..\\metrics',
    ]) {
      const r = await rawGet(base, path, { authorization: `Bearer ${token}` });
      expect([path, r.status]).toEqual([path, 400]);
      expect(r.body).not.toContain('process_cpu_seconds_total');
    }
    expect(
      (await fetch(`${base}/api/metrics`, { headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(404);
  });

  it('still works end to end through the gateway: services call each other with the internal token', async () => {
    const api = client(driver.url());
    const created = await api('POST', '/api/jobconfigs', { token, json: { name: 'internal endpoints' } });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    // file-storage asks jobconfig whether the caller may use the configuration (internal call).
    const pkg = await buildZip({ 'main.process': 'steps:\n  - log: hello\n' });
    const upload = await api('PUT', `/api/jobconfigs/${id}/files/p.djar`, {
      token,
      body: pkg,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(upload.status).toBe(201);
    // jobconfig asks file-storage whether the package is attached and what it holds (internal calls).
    const updated = await api('PUT', `/api/jobconfigs/${id}`, {
      token,
      json: {
        name: 'internal endpoints',
        active: true,
        runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' },
      },
    });
    expect(updated.status).toBe(200);
  });
});
