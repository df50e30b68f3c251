import { silentLogger } from '@im/logging';
import request from 'supertest';
import { createServiceApp, ReadinessChecker, shortError, type Readiness } from './app';

const METRICS_TOKEN = 'metrics-token-of-the-readiness-tests-0123456789';
/** The credential that shows /readyz's timings and reasons (the metrics token). */
const detail = { authorization: `Bearer ${METRICS_TOKEN}` };
const app = (readiness: Readiness) =>
  createServiceApp({ logger: silentLogger(), readiness, metricsToken: METRICS_TOKEN });

describe('/readyz', () => {
  it('answers 200 with every check up', async () => {
    const res = await request(app({ checks: { database: () => undefined, kafka: async () => 'ok' } }))
      .get('/readyz')
      .set(detail);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'ready',
      checks: {
        database: { status: 'up', ms: expect.any(Number) },
        kafka: { status: 'up', ms: expect.any(Number) },
      },
    });
  });

  it('answers 503 naming the dependency that is down, with a short message and no secret', async () => {
    const res = await request(
      app({
        checks: {
          database: () => {
            throw new Error('connect ECONNREFUSED postgres://im_auth:s3cret@127.0.0.1:5432/im_auth\nstack');
          },
          storage: async () => undefined,
        },
      }),
    )
      .get('/readyz')
      .set(detail);
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('not-ready');
    expect(res.body.checks.storage.status).toBe('up');
    expect(res.body.checks.database).toEqual({
      status: 'down',
      ms: expect.any(Number),
      error: 'connect ECONNREFUSED postgres://***@127.0.0.1:5432/im_auth',
    });
    expect(JSON.stringify(res.body)).not.toContain('s3cret');
  });

  it('counts a check that hangs past its timeout as down', async () => {
    const res = await request(app({ timeoutMs: 50, checks: { kafka: () => new Promise(() => undefined) } }))
      .get('/readyz')
      .set(detail);
    expect(res.status).toBe(503);
    expect(res.body.checks.kafka).toMatchObject({ status: 'down', error: 'timed out after 50 ms' });
  });

  it('turns 503 while draining, reported as draining', async () => {
    let draining = false;
    const a = app({ checks: { database: () => undefined }, isDraining: () => draining, cacheMs: 0 });
    expect((await request(a).get('/readyz')).status).toBe(200);
    draining = true;
    const res = await request(a).get('/readyz').set(detail);
    expect(res.status).toBe(503);
    expect(res.body.checks.draining).toEqual({ status: 'down', ms: 0, error: 'shutting down' });
    expect(res.body.checks.database.status).toBe('up');
  });

  it('reports a process that has not started yet as started: down', async () => {
    const res = await request(app({ ready: () => false }))
      .get('/readyz')
      .set(detail);
    expect(res.status).toBe(503);
    expect(res.body.checks.started).toMatchObject({ status: 'down', error: 'not started yet' });
  });

  it('tells a caller without a credential only the status and the names up or down, no reasons or timings', async () => {
    const a = app({
      checks: {
        database: () => {
          throw new Error('connect ECONNREFUSED 10.1.2.3:5432');
        },
        storage: () => undefined,
      },
    });
    const res = await request(a).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      status: 'not-ready',
      checks: { database: { status: 'down' }, storage: { status: 'up' } },
    });
    const wrong = await request(a).get('/readyz').set('authorization', 'Bearer not-the-metrics-token');
    expect(JSON.stringify(wrong.body)).not.toContain('10.1.2.3');
    const internal = createServiceApp({
      logger: silentLogger(),
      readiness: { checks: { database: () => Promise.reject(new Error('at 10.1.2.3')) } },
      internalToken: 'internal-token-of-the-readiness-tests-0123456789',
    });
    const withInternal = await request(internal)
      .get('/readyz')
      .set('x-internal-token', 'internal-token-of-the-readiness-tests-0123456789');
    expect(withInternal.body.checks.database.error).toBe('at 10.1.2.3');
  });

  it('keeps /healthz free of dependencies', async () => {
    const database = jest.fn(() => {
      throw new Error('down');
    });
    const res = await request(app({ checks: { database } })).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(database).not.toHaveBeenCalled();
  });
});

describe('ReadinessChecker', () => {
  it('reuses a result for cacheMs, then asks again', async () => {
    let now = 1000;
    const check = jest.fn(async () => undefined);
    const c = new ReadinessChecker({ cacheMs: 1000, checks: { database: check } }, () => now);
    await c.report();
    now += 500;
    await c.report();
    expect(check).toHaveBeenCalledTimes(1);
    now += 600;
    await c.report();
    expect(check).toHaveBeenCalledTimes(2);
  });

  it('shares one run between concurrent probes and never starts a second while one hangs', async () => {
    let release: () => void = () => undefined;
    const hang = new Promise<void>((r) => (release = r));
    const check = jest.fn().mockReturnValueOnce(hang).mockResolvedValue(undefined);
    const c = new ReadinessChecker({ timeoutMs: 20, cacheMs: 0, checks: { kafka: check } });
    const [a, b] = await Promise.all([c.report(), c.report()]);
    expect(a.checks.kafka?.status).toBe('down');
    expect(b.checks.kafka?.status).toBe('down');
    await c.report(); // the first check still hangs: waited on, not started again
    expect(check).toHaveBeenCalledTimes(1);
    release();
    await new Promise((r) => setImmediate(r));
    expect((await c.report()).status).toBe('ready');
    expect(check).toHaveBeenCalledTimes(2);
  });
});

describe('shortError', () => {
  it('keeps the code, the first line and at most 200 characters', () => {
    const err = Object.assign(new Error('connection refused\nat x'), { code: 'ECONNREFUSED' });
    expect(shortError(err)).toBe('ECONNREFUSED: connection refused');
    expect(shortError(new Error('x'.repeat(500)))).toHaveLength(200);
  });
});
