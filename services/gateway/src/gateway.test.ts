import { silentLogger } from '@im/logging';
import type { RequestHandler } from 'express';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createApp, PUBLIC_PATHS } from './app';
import { isCanonicalPath, ownerOf, proxyRouter } from './proxy';

const INTERNAL_TOKEN = 'internal-token-of-the-gateway-tests-0123456789';

/** An upstream that echoes what it received, to see what the gateway forwards. */
async function echoServer(name: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          name,
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const allow: RequestHandler = (req, _res, next) => {
  req.principal = { id: '1', name: 'admin', roles: ['admin'], accountId: '1' };
  next();
};
const deny: RequestHandler = (_req, res) => {
  res.status(401).json({ code: 'UNAUTHENTICATED' });
};

describe('gateway', () => {
  it('routes each path to the service that owns it', () => {
    expect(ownerOf('/api/jobconfigs/4/files')).toBe('file-storage');
    expect(ownerOf('/api/jobconfigs/4/files/a.djar')).toBe('file-storage');
    expect(ownerOf('/api/jobconfigs/4/files/entrypoints/a.djar')).toBe('file-storage');
    expect(ownerOf('/api/jobconfigs/4')).toBe('jobconfig');
    expect(ownerOf('/api/jobconfigs/4/package/entrypoints')).toBe('jobconfig');
    expect(ownerOf('/api/jobconfigs/4/jobs')).toBe('jobconfig');
    expect(ownerOf('/api/jobs/x/log')).toBe('jobconfig');
    expect(ownerOf('/api/login')).toBe('auth');
    expect(ownerOf('/api/users/3/password')).toBe('auth');
    expect(ownerOf('/api/jobconfigsx')).toBeUndefined();
    expect(ownerOf('/api/other')).toBeUndefined();
  });

  it('tells canonical paths from ones a URL parser would change', () => {
    expect(isCanonicalPath('/api/jobconfigs/7/files/a%20b.csv')).toBe(true);
    expect(isCanonicalPath('/api/jobs')).toBe(true);
    for (const p of ['/api/jobs/../metrics', '/api/jobs/%2e%2E/metrics', '/api/jobs/./7', '/api/jobs\\..\\x'])
      expect([p, isCanonicalPath(p)]).toEqual([p, false]);
  });

  it('leaves only login, refresh, product info and the docs public', () => {
    const isPublic = (p: string) => PUBLIC_PATHS.some((r) => r.test(p));
    expect(
      [
        '/api/login',
        '/api/login/refresh',
        '/api/product/info',
        '/api/openapi.json',
        '/api/docs',
        '/api/docs/assets/x.css',
      ].every(isPublic),
    ).toBe(true);
    expect(
      ['/api/logout', '/api/user', '/api/users', '/api/jobconfigs', '/api/jobs', '/api/login/other'].some(
        isPublic,
      ),
    ).toBe(false);
  });

  describe('proxy', () => {
    let upstreams: Awaited<ReturnType<typeof echoServer>>[];
    beforeAll(async () => {
      upstreams = await Promise.all(['auth', 'jobconfig', 'file-storage'].map(echoServer));
    });
    afterAll(async () => {
      await Promise.all(upstreams.map((u) => u.close()));
    });

    const app = (authenticate: RequestHandler, urls?: string[]) =>
      createApp({
        logger: silentLogger(),
        info: { name: 'integration-manager', version: '1.2.3', buildDate: '2026-11-28T00:00:00.000Z' },
        readiness: { ready: () => true },
        authenticate,
        upstreams: [
          proxyRouter(
            {
              auth: { name: 'auth', url: urls?.[0] ?? upstreams[0]!.url },
              jobconfig: { name: 'jobconfig', url: urls?.[1] ?? upstreams[1]!.url },
              'file-storage': { name: 'file-storage', url: urls?.[2] ?? upstreams[2]!.url },
            },
            {
              responseTimeoutMs: 2000,
              idleTimeoutMs: 5000,
              logger: silentLogger(),
              internalToken: INTERNAL_TOKEN,
            },
          ),
        ],
      });

    it('streams method, path, query, body and headers to the owner, with the request id', async () => {
      const res = await request(app(allow))
        .post('/api/jobconfigs/7/files?key=a.txt')
        .set('authorization', 'Bearer t')
        .set('x-request-id', 'rid-1')
        .set('content-type', 'application/octet-stream')
        .send('hello');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        name: 'file-storage',
        method: 'POST',
        url: '/api/jobconfigs/7/files?key=a.txt',
        body: 'hello',
      });
      expect(res.body.headers).toMatchObject({
        authorization: 'Bearer t',
        'x-request-id': 'rid-1',
        'x-forwarded-proto': 'http',
      });
      expect(res.headers['x-request-id']).toBe('rid-1');
    });

    it("adds the installation's internal token to what it forwards, in place of any the client sent", async () => {
      const res = await request(app(allow))
        .get('/api/jobs')
        .set('authorization', 'Bearer t')
        .set('x-internal-token', 'forged-by-the-client');
      expect(res.status).toBe(200);
      expect(res.body.headers['x-internal-token']).toBe(INTERNAL_TOKEN);
      // And never hands it back to the client.
      expect(JSON.stringify(res.headers)).not.toContain(INTERNAL_TOKEN);
    });

    it("never forwards to a service's own endpoints: a path with dot segments or backslashes is refused (400)", async () => {
      for (const path of [
        '/api/jobconfigs/../../metrics',
        '/api/jobs/%2e%2e/%2E%2E/readyz',
        '/api/jobconfigs/./7',
      ]) {
        const res = await request(app(allow)).get(path).set('authorization', 'Bearer t');
        expect([path, res.status]).toEqual([path, 400]);
        expect(res.headers['content-type']).toContain('application/problem+json');
        expect(res.body.name).toBeUndefined();
      }
      // Nothing but /api/... is proxied: the gateway's own /metrics answers (401 without its token).
      expect((await request(app(allow)).get('/metrics')).status).toBe(401);
      expect((await request(app(allow)).get('/api/metrics').set('authorization', 'Bearer t')).status).toBe(
        404,
      );
      // A plain path still goes through.
      expect(
        (await request(app(allow)).get('/api/jobconfigs/7').set('authorization', 'Bearer t')).status,
      ).toBe(200);
    });

    it('refuses a protected path at the edge without reaching a service', async () => {
      const res = await request(app(deny)).get('/api/jobconfigs');
      expect(res.status).toBe(401);
      const open = await request(app(deny)).post('/api/login').send({ username: 'a', password: 'b' });
      expect(open.body.name).toBe('auth');
    });

    it('answers its own routes: product info and the OpenAPI document', async () => {
      const info = await request(app(deny)).get('/api/product/info');
      expect(info.body).toEqual({
        name: 'integration-manager',
        version: '1.2.3',
        buildDate: '2026-11-28T00:00:00.000Z',
      });
      const doc = await request(app(deny)).get('/api/openapi.json').set('host', 'im.example.com');
      expect(doc.body.servers).toEqual([{ url: 'http://im.example.com/api' }]);
    });

    it('answers 503 problem+json when the owner is down', async () => {
      const down = await echoServer('gone');
      await down.close();
      const res = await request(app(allow, [down.url, down.url, down.url])).get('/api/jobs');
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(JSON.parse(res.text)).toMatchObject({
        code: 'UNAVAILABLE',
        detail: expect.stringContaining('jobconfig'),
      });
    });

    describe('response timeout', () => {
      /** The gateway with a 300 ms response timeout in front of `upstream`, listening on a port. */
      async function gatewayFor(upstreamUrl: string) {
        const gw = createApp({
          logger: silentLogger(),
          info: { name: 'integration-manager', version: '1', buildDate: '2026-11-28T00:00:00.000Z' },
          readiness: { ready: () => true },
          authenticate: allow,
          upstreams: [
            proxyRouter(
              {
                auth: { name: 'auth', url: upstreamUrl },
                jobconfig: { name: 'jobconfig', url: upstreamUrl },
                'file-storage': { name: 'file-storage', url: upstreamUrl },
              },
              {
                responseTimeoutMs: 300,
                idleTimeoutMs: 5000,
                logger: silentLogger(),
                internalToken: INTERNAL_TOKEN,
              },
            ),
          ],
        });
        const server = gw.listen(0, '127.0.0.1');
        await new Promise<void>((r) => server.once('listening', () => r()));
        return {
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          close: () => new Promise<void>((r) => server.close(() => r())),
        };
      }

      it('counts from when the request was sent whole: an upload slower than the timeout goes through', async () => {
        const gw = await gatewayFor(upstreams[2]!.url);
        try {
          const status = await new Promise<{ code: number; body: string }>((resolve, reject) => {
            const req = http.request(`${gw.url}/api/jobconfigs/7/files?key=slow.bin`, {
              method: 'POST',
              headers: { 'content-type': 'application/octet-stream' },
            });
            req.on('response', (res) => {
              let body = '';
              res.on('data', (c: Buffer) => (body += c.toString()));
              res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
            });
            req.on('error', reject);
            // A slow client: eight parts 100 ms apart, 0.8 s in all, well over the 300 ms timeout.
            let sent = 0;
            const tick = setInterval(() => {
              req.write(`part${sent};`);
              if (++sent === 8) {
                clearInterval(tick);
                req.end();
              }
            }, 100);
          });
          expect(status.code).toBe(200);
          expect(JSON.parse(status.body)).toMatchObject({
            name: 'file-storage',
            body: 'part0;part1;part2;part3;part4;part5;part6;part7;',
          });
        } finally {
          await gw.close();
        }
      });

      it('answers 503 problem+json when the owner does not answer within the timeout', async () => {
        const silent = http.createServer(() => undefined); // takes the request, never answers
        await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
        const gw = await gatewayFor(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
        try {
          const started = Date.now();
          const res = await fetch(`${gw.url}/api/jobs`);
          expect(res.status).toBe(503);
          expect(await res.json()).toMatchObject({
            code: 'UNAVAILABLE',
            detail: expect.stringContaining('did not answer within 300 ms'),
          });
          expect(Date.now() - started).toBeGreaterThanOrEqual(290);
        } finally {
          await gw.close();
          silent.closeAllConnections();
          await new Promise<void>((r) => silent.close(() => r()));
        }
      });
    });

    it('answers 404 problem+json for paths no service owns', async () => {
      const res = await request(app(allow)).get('/api/nothing');
      expect(res.status).toBe(404);
    });
  });
});
