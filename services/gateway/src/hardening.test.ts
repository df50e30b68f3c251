import { silentLogger } from '@im/logging';
import express, { type RequestHandler } from 'express';
import request from 'supertest';
import { createApp } from './app';
import { z } from '@im/contracts';
import { trustProxyFrom } from '@im/http-kit';
import { hardeningEnv, hardeningFromEnv, tokenSubject, type HardeningOptions } from './hardening';

const allow: RequestHandler = (req, _res, next) => {
  req.principal = { id: '1', name: 'admin', roles: ['admin'], accountId: '1' };
  next();
};

/** A token-shaped string with this subject (the limiter reads it unverified; edge auth verifies). */
const tokenFor = (sub: string) =>
  `Bearer ${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub })).toString('base64url')}.sig`;

function gateway(hardening?: HardeningOptions, trustProxy?: string[]) {
  const upstream = express.Router();
  upstream.get('/api/jobs', (_req, res) => {
    res.json({ ok: true });
  });
  return createApp({
    logger: silentLogger(),
    info: { name: 'integration-manager', version: '1', buildDate: '2026-11-28T00:00:00.000Z' },
    readiness: { ready: () => true },
    authenticate: allow,
    upstreams: [upstream],
    ...(hardening ? { hardening } : {}),
    ...(trustProxy !== undefined ? { trustProxy: trustProxyFrom(trustProxy) } : {}),
  });
}

describe('gateway hardening', () => {
  it('sends security headers on API answers, a strict CSP and no x-powered-by', async () => {
    const res = await request(gateway()).get('/api/jobs');
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'referrer-policy': 'no-referrer',
      'strict-transport-security': expect.stringContaining('max-age='),
      'content-security-policy': "default-src 'none';frame-ancestors 'none'",
    });
    expect(res.headers['x-powered-by']).toBeUndefined();
    const notFound = await request(gateway()).get('/api/nothing');
    expect(notFound.headers['x-content-type-options']).toBe('nosniff');
  });

  it('keeps the docs page working: its own CSP allows its same-origin script and styles', async () => {
    const app = gateway();
    const page = await request(app).get('/api/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(page.headers['content-security-policy']).toMatch(/style-src 'self' 'unsafe-inline'/);
    for (const asset of [
      '/api/docs/assets/swagger-ui.css',
      '/api/docs/assets/swagger-ui-bundle.js',
      '/api/docs/init.js',
    ]) {
      const a = await request(app).get(asset);
      expect(a.status).toBe(200);
      expect(page.text).toContain(asset);
    }
  });

  it('sends no CORS headers by default, not even to a preflight', async () => {
    const app = gateway();
    const res = await request(app).get('/api/jobs').set('origin', 'https://evil.example');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const pre = await request(app)
      .options('/api/jobs')
      .set('origin', 'https://ui.example.com')
      .set('access-control-request-method', 'GET');
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers CORS for an allow-listed origin only', async () => {
    const app = gateway({ corsOrigins: ['https://ui.example.com'] });
    const ok = await request(app).get('/api/jobs').set('origin', 'https://ui.example.com');
    expect(ok.headers['access-control-allow-origin']).toBe('https://ui.example.com');
    expect(ok.headers['vary']).toMatch(/Origin/);
    const pre = await request(app)
      .options('/api/jobs')
      .set('origin', 'https://ui.example.com')
      .set('access-control-request-method', 'PUT')
      .set('access-control-request-headers', 'authorization,content-type');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-methods']).toMatch(/PUT/);
    expect(pre.headers['access-control-allow-headers']).toMatch(/Authorization/);
    const other = await request(app).get('/api/jobs').set('origin', 'https://evil.example');
    expect(other.status).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('limits requests per token: 429 problem+json with Retry-After, other users unaffected', async () => {
    const app = gateway({ rateLimitPerToken: 3, rateLimitPerIp: 100 });
    const ada = tokenFor('7');
    for (let i = 0; i < 3; i++)
      expect((await request(app).get('/api/jobs').set('authorization', ada)).status).toBe(200);
    const res = await request(app).get('/api/jobs').set('authorization', ada);
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(JSON.parse(res.text)).toMatchObject({
      status: 429,
      code: 'RATE_LIMITED',
      detail: expect.stringContaining('Retry-After'),
    });
    expect((await request(app).get('/api/jobs').set('authorization', tokenFor('8'))).status).toBe(200);
  });

  it('limits requests per IP, with and without a token; health checks are never limited', async () => {
    const app = gateway({ rateLimitPerToken: 100, rateLimitPerIp: 2 });
    expect((await request(app).get('/api/jobs')).status).toBe(200);
    expect((await request(app).get('/api/jobs').set('authorization', tokenFor('1'))).status).toBe(200);
    const res = await request(app).get('/api/jobs').set('authorization', tokenFor('2'));
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBeDefined();
    expect((await request(app).get('/healthz')).status).toBe(200);
  });

  it('keys the IP limit on the client behind a trusted proxy, not on the proxy', async () => {
    const app = gateway({ rateLimitPerIp: 1, rateLimitPerToken: 0 }, ['loopback']);
    const a = await request(app).get('/api/jobs').set('x-forwarded-for', '203.0.113.7');
    const b = await request(app).get('/api/jobs').set('x-forwarded-for', '203.0.113.8');
    const a2 = await request(app).get('/api/jobs').set('x-forwarded-for', '203.0.113.7');
    expect([a.status, b.status, a2.status]).toEqual([200, 200, 429]);
  });

  it('believes no X-Forwarded-For by default: a client cannot choose its address', async () => {
    const app = gateway({ rateLimitPerIp: 1, rateLimitPerToken: 0 });
    const a = await request(app).get('/api/jobs').set('x-forwarded-for', '203.0.113.7');
    const b = await request(app).get('/api/jobs').set('x-forwarded-for', '203.0.113.8');
    expect([a.status, b.status]).toEqual([200, 429]);
  });

  it('disables a limit set to 0', async () => {
    const app = gateway({ rateLimitPerIp: 0, rateLimitPerToken: 0 });
    for (let i = 0; i < 20; i++) expect((await request(app).get('/api/jobs')).status).toBe(200);
  });

  it('reads a token subject only from a JWT-shaped bearer token', () => {
    const req = (authorization?: string) =>
      ({ headers: authorization ? { authorization } : {} }) as Parameters<typeof tokenSubject>[0];
    expect(tokenSubject(req(tokenFor('42')))).toBe('42');
    expect(tokenSubject(req('Bearer not-a-jwt'))).toBeUndefined();
    expect(tokenSubject(req('Basic abc.def.ghi'))).toBeUndefined();
    expect(tokenSubject(req())).toBeUndefined();
  });

  it('reads its settings from the environment', () => {
    const env = (e: Record<string, string>) => hardeningFromEnv(z.object(hardeningEnv).parse(e));
    expect(
      env({
        GATEWAY_CORS_ORIGINS: ' https://a.example , https://b.example/ ,',
        GATEWAY_RATE_LIMIT_PER_MINUTE: '10',
        GATEWAY_RATE_LIMIT_PER_IP_PER_MINUTE: '0',
      }),
    ).toEqual({
      hardening: {
        corsOrigins: ['https://a.example', 'https://b.example'],
        rateLimitPerToken: 10,
        rateLimitPerIp: 0,
      },
      // Nobody's X-Forwarded-For unless proxies are listed.
      trustProxy: false,
    });
    const trust = env({ GATEWAY_TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy;
    expect(trust && [trust('127.0.0.1', 0), trust('10.1.2.3', 1), trust('192.0.2.1', 0)]).toEqual([
      true,
      true,
      false,
    ]);
    // A hop count or `true` would believe any client that reaches the port.
    for (const bad of ['1', 'true', '10.0.0.0/99', 'gateway'])
      expect(() => env({ GATEWAY_TRUST_PROXY: bad })).toThrow(/proxy addresses or ranges/);
  });
});
