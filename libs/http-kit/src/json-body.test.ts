import { silentLogger } from '@im/logging';
import express from 'express';
import request from 'supertest';
import { createServiceApp } from './app';
import { jsonBody, lineAndColumn, parseJsonText } from './json-body';

describe('parseJsonText', () => {
  it('names the line and column of the first error', () => {
    const text = '{\n  "name": "x"\n  "active": true\n}';
    expect(() => parseJsonText(text)).toThrow(/line 3, column 3/);
  });

  it('reports the end of a truncated document', () => {
    expect(() => parseJsonText('{"a":')).toThrow(/Unexpected end of input at line 1, column 6/);
  });

  it('counts columns from 1 and lines from 1', () => {
    expect(lineAndColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineAndColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});

describe('jsonBody', () => {
  const router = express.Router();
  router.post('/echo', jsonBody({ limit: 64 }), (req, res) => {
    res.json(req.body);
  });
  const app = createServiceApp({ logger: silentLogger(), readiness: { ready: () => true } }, router);

  it('reads application/json', async () => {
    const res = await request(app).post('/echo').set('content-type', 'application/json').send('{"a":1}');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ a: 1 });
  });

  it('reads a JSON document sent as multipart/form-data', async () => {
    const res = await request(app).post('/echo').set('content-type', 'multipart/form-data').send('{"a":2}');
    expect(res.body).toEqual({ a: 2 });
  });

  it('answers malformed JSON with a 400 problem naming line and column', async () => {
    const res = await request(app)
      .post('/echo')
      .set('content-type', 'application/json')
      .send('{"a":1\n"b":2}');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(JSON.parse(res.text)).toMatchObject({
      code: 'MALFORMED_JSON',
      status: 400,
      detail: expect.stringMatching(/line 2, column 1/),
    });
  });

  it('refuses bodies over the limit with 413', async () => {
    const res = await request(app)
      .post('/echo')
      .set('content-type', 'application/json')
      .send(JSON.stringify({ a: 'x'.repeat(100) }));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses other content types with 415', async () => {
    const res = await request(app).post('/echo').set('content-type', 'text/csv').send('a,b');
    expect(res.status).toBe(415);
  });

  it('answers unknown routes with a 404 problem and carries the request id', async () => {
    const res = await request(app).get('/nope').set('x-request-id', 'abc-123');
    expect(res.status).toBe(404);
    expect(res.headers['x-request-id']).toBe('abc-123');
    expect(JSON.parse(res.text)).toMatchObject({
      code: 'NOT_FOUND',
      requestId: 'abc-123',
      instance: '/nope',
    });
  });

  it('maps unexpected errors to a 500 problem without internals', async () => {
    const r = express.Router();
    r.get('/boom', () => {
      throw new Error('secret internals at /srv/app.js:12');
    });
    const res = await request(
      createServiceApp({ logger: silentLogger(), readiness: { ready: () => true } }, r),
    ).get('/boom');
    expect(res.status).toBe(500);
    const body = JSON.parse(res.text) as { detail: string; code: string };
    expect(body.code).toBe('INTERNAL');
    expect(body.detail).not.toContain('secret');
  });
});
