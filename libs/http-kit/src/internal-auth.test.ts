import { silentLogger } from '@im/logging';
import express from 'express';
import request from 'supertest';
import { createServiceApp } from './app';
import { requireInternalToken, sameSecret } from './internal-auth';

const INTERNAL = 'internal-token-of-the-unit-tests-0123456789abcdef';
const METRICS = 'metrics-token-of-the-unit-tests-0123456789abcdef';

const routes = express.Router();
routes.get('/api/things', (_req, res) => {
  res.json({ things: [] });
});
const service = createServiceApp(
  { logger: silentLogger(), readiness: {}, internalToken: INTERNAL, metricsToken: METRICS },
  routes,
);

describe('sameSecret', () => {
  it('accepts the very value only', () => {
    expect(sameSecret(INTERNAL, INTERNAL)).toBe(true);
    expect(sameSecret(`${INTERNAL}x`, INTERNAL)).toBe(false);
    expect(sameSecret(INTERNAL.slice(0, -1), INTERNAL)).toBe(false);
    expect(sameSecret('', INTERNAL)).toBe(false);
    expect(sameSecret(undefined, INTERNAL)).toBe(false);
  });

  it('never matches an empty expected value, even an empty one given', () => {
    expect(sameSecret('', '')).toBe(false);
  });
});

describe('internal token on a service port', () => {
  it('refuses a request without it, or with another, 401 problem+json saying to go through the gateway', async () => {
    for (const headers of [{}, { 'x-internal-token': 'wrong' }, { authorization: `Bearer ${INTERNAL}` }]) {
      const res = await request(service).get('/api/things').set(headers);
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.body.code).toBe('UNAUTHENTICATED');
      expect(res.body.detail).toContain('gateway');
      expect(JSON.stringify(res.body)).not.toContain(INTERNAL);
    }
  });

  it('lets it through with the token', async () => {
    const res = await request(service).get('/api/things').set('x-internal-token', INTERNAL);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ things: [] });
  });

  it('answers 401, not 404, for an unknown path: the routes are not learnt without it', async () => {
    expect((await request(service).get('/debug/anything')).status).toBe(401);
    expect((await request(service).get('/debug/anything').set('x-internal-token', INTERNAL)).status).toBe(
      404,
    );
  });

  it('leaves /healthz and /readyz open for probes', async () => {
    expect((await request(service).get('/healthz')).status).toBe(200);
    expect((await request(service).get('/readyz')).status).toBe(200);
  });

  it('refuses to be made with an empty token', () => {
    expect(() => requireInternalToken('')).toThrow(/empty/);
  });
});

describe('/metrics', () => {
  it('answers 401 problem+json without the metrics token, with a wrong one, or with the internal token', async () => {
    for (const headers of [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Basic ${Buffer.from(`x:${METRICS}`).toString('base64')}` },
      { 'x-internal-token': INTERNAL },
    ]) {
      const res = await request(service).get('/metrics').set(headers);
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.text).not.toContain('http_request_duration');
    }
  });

  it('serves the metrics with `Authorization: Bearer <metrics token>`', async () => {
    const res = await request(service).get('/metrics').set('authorization', `Bearer ${METRICS}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.text).toContain('http_request_duration');
  });

  it('is off without a metrics token configured: 401 to everybody, saying how to turn it on', async () => {
    const bare = createServiceApp({ logger: silentLogger(), readiness: {} });
    const res = await request(bare).get('/metrics').set('authorization', 'Bearer anything');
    expect(res.status).toBe(401);
    expect(res.body.detail).toContain('METRICS_TOKEN');
    // No internal token configured (the gateway, the runner): the other paths need none.
    expect((await request(bare).get('/nothing')).status).toBe(404);
  });
});
