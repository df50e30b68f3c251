import { silentLogger } from '@im/logging';
import { initTestTracing } from '@im/observability';
import express from 'express';
import request from 'supertest';
import { createServiceApp } from './app';

describe('telemetry middleware', () => {
  const spans = initTestTracing('svc');
  const routes = express.Router();
  routes.get('/api/things/:id', (_req, res) => {
    res.json({ ok: true });
  });
  const metricsToken = 'metrics-token-of-the-telemetry-tests-0123456789';
  const bearer = { authorization: `Bearer ${metricsToken}` };
  const app = createServiceApp({ logger: silentLogger(), readiness: {}, metricsToken }, routes);
  beforeEach(() => spans.reset());

  it('labels the latency histogram with the route pattern, never the raw path', async () => {
    await request(app).get('/api/things/4711').expect(200);
    await request(app).get('/api/nothing/here').expect(404);
    const text = (await request(app).get('/metrics').set(bearer).expect(200)).text;
    expect(text).toMatch(
      /http_request_duration_seconds_count\{[^}]*method="GET",route="\/api\/things\/:id",status="200"[^}]*\} 1/,
    );
    expect(text).toMatch(/http_request_duration_seconds_count\{[^}]*route="unmatched",status="404"/);
    expect(text).not.toContain('4711');
    expect(text).not.toContain('/api/nothing');
  });

  it('continues the caller trace from traceparent, or starts one', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await request(app).get('/api/things/1').set('traceparent', traceparent).expect(200);
    await request(app).get('/api/things/2').expect(200);
    const [continued, started] = spans.getFinishedSpans();
    expect(continued?.name).toBe('GET /api/things/:id');
    expect(continued?.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(continued?.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(continued?.attributes['http.response.status_code']).toBe(200);
    expect(started?.spanContext().traceId).not.toBe('0af7651916cd43dd8448eb211c80319c');
    expect(started?.parentSpanContext).toBeUndefined();
  });

  it('serves /metrics with its token, in the Prometheus text format', async () => {
    const res = await request(app).get('/metrics').set(bearer).expect(200);
    expect(res.headers['content-type']).toContain('text/plain');
  });
});
