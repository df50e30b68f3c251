import type { AuditEvent } from '@im/contracts';
import { silentLogger } from '@im/logging';
import express from 'express';
import request from 'supertest';
import { createServiceApp } from './app';
import { trustProxyFrom } from './trust-proxy';
import { Auditor, auditTrail, idFromLocation, type AuditRule } from './audit';
import { jsonBody } from './json-body';

/** A service with two audited routes, publishing into `events` (or failing, when `fail` is set). */
function service(events: AuditEvent[], opts: { fail?: boolean } = {}) {
  const auditor = new Auditor(
    async (e) => {
      if (opts.fail) throw new Error('bus down');
      events.push(e);
    },
    silentLogger(),
    'test',
  );
  const rules: AuditRule[] = [
    {
      method: 'POST',
      path: '/api/things',
      action: 'jobconfig.created',
      resource: (_p, res) => ({ type: 'jobconfig', id: idFromLocation(res) ?? '' }),
      details: (_p, req) => ({ name: (req.body as { name: string }).name }),
    },
    {
      method: 'PUT',
      path: '/api/things/:id/macros/:name',
      action: (res) => (res.statusCode === 201 ? 'macro.created' : 'macro.updated'),
      resource: (p) => ({ type: 'macro', id: `${p.id}/${p.name}` }),
    },
  ];
  const r = express.Router();
  r.use((req, _res, next) => {
    if (req.headers.authorization === 'Bearer ok')
      req.principal = { id: '5', name: 'ada', roles: ['user'], accountId: '1' };
    next();
  });
  r.use(auditTrail(auditor, rules));
  r.post('/api/things', jsonBody(), (req, res) => {
    if (!req.principal) return void res.status(401).json({});
    if ((req.body as { name?: string }).name === '') return void res.status(400).json({});
    res.status(201).location('/api/things/42').json({ id: '42' });
  });
  r.put('/api/things/:id/macros/:name', (req, res) => {
    res.status(req.params.id === 'new' ? 201 : 200).json({});
  });
  return createServiceApp(
    { logger: silentLogger(), readiness: {}, trustProxy: trustProxyFrom(['loopback']) },
    r,
  );
}

const settled = () => new Promise((r) => setImmediate(r));

describe('audit trail', () => {
  it('records who, what, when and from where once the answer is sent', async () => {
    const events: AuditEvent[] = [];
    await request(service(events))
      .post('/api/things')
      .set('authorization', 'Bearer ok')
      .set('x-request-id', 'rid-7')
      .set('x-forwarded-for', '198.51.100.9')
      .send({ name: 'nightly', password: 'never-this' });
    await settled();
    expect(events).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        time: expect.any(String),
        actor: { id: '5', name: 'ada' },
        accountId: '1',
        action: 'jobconfig.created',
        resource: { type: 'jobconfig', id: '42' },
        outcome: 'success',
        sourceIp: '198.51.100.9',
        requestId: 'rid-7',
        service: 'test',
        details: { name: 'nightly' },
      },
    ]);
    expect(JSON.stringify(events)).not.toContain('never-this');
  });

  it('records 401/403 as failures, and neither validation errors nor unaudited routes', async () => {
    const events: AuditEvent[] = [];
    const app = service(events);
    await request(app).post('/api/things').send({ name: 'x' });
    await request(app).post('/api/things').set('authorization', 'Bearer ok').send({ name: '' });
    await request(app).get('/api/things');
    await settled();
    expect(events.map((e) => [e.action, e.outcome, e.actor])).toEqual([
      ['jobconfig.created', 'failure', null],
    ]);
  });

  it('names the action from the answer and decodes path parameters', async () => {
    const events: AuditEvent[] = [];
    const app = service(events);
    await request(app).put('/api/things/new/macros/DB%20URL');
    await request(app).put('/api/things/7/macros/X');
    await settled();
    expect(events.map((e) => [e.action, e.resource])).toEqual([
      ['macro.created', { type: 'macro', id: 'new/DB URL' }],
      ['macro.updated', { type: 'macro', id: '7/X' }],
    ]);
  });

  it('never fails the request when publishing fails', async () => {
    const res = await request(service([], { fail: true }))
      .post('/api/things')
      .set('authorization', 'Bearer ok')
      .send({ name: 'n' });
    expect(res.status).toBe(201);
    await settled();
  });

  it('keeps details small and scalar', () => {
    const auditor = new Auditor(undefined, silentLogger(), 't');
    const req = { ip: '::1', requestId: 'r', principal: undefined } as unknown as express.Request;
    const e = auditor.eventFor(req, {
      action: 'login.failed',
      outcome: 'failure',
      details: { username: 'u'.repeat(1000), nested: { a: 1 } as unknown as string },
    });
    expect(e.details).toEqual({ username: 'u'.repeat(256) });
    expect(e.actor).toBeNull();
  });
});
