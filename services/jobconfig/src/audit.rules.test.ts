import type { AuditEvent } from '@im/contracts';
import { waitFor } from '@im/testing';
import request from 'supertest';
import { routeHarness, type RouteHarness } from './routes.test-support';

const SECRET = 'S3cr3t-Value-Never-Audited';

describe('jobconfig audit trail', () => {
  let h: RouteHarness;
  let app: RouteHarness['app'];
  const events: AuditEvent[] = [];

  beforeEach(async () => {
    events.length = 0;
    h = await routeHarness({
      before: (bus) =>
        bus
          .subscribe({ groupId: 'test', topic: 'audit.events', handler: async (e) => void events.push(e) })
          .then(() => undefined),
    });
    ({ app } = h);
  });
  afterEach(() => h.close());

  it('records configuration, macro and job changes with who and what, never a secret', async () => {
    const created = await request(app)
      .post('/api/jobconfigs')
      .send({
        name: 'nightly',
        active: true,
        runtimeConfig: { macros: [{ key: 'DB_PASSWORD', value: SECRET, secure: true }] },
      })
      .expect(201);
    const id = String(created.body.id);
    await request(app)
      .post(`/api/jobconfigs/${id}/macros`)
      .send({ key: 'API_KEY', value: SECRET, secure: true })
      .expect(201);
    await request(app)
      .put(`/api/jobconfigs/${id}/macros/API_KEY`)
      .send({ value: `${SECRET}-2`, secure: true })
      .expect(200);
    await request(app).delete(`/api/jobconfigs/${id}/macros/API_KEY`).expect(204);
    await request(app)
      .patch(`/api/jobconfigs/${id}`)
      .send({ runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' } })
      .expect(200);
    const job = await request(app).post(`/api/jobconfigs/${id}/jobs`).send({}).expect(202);
    await waitFor(async () => events.length >= 6 || undefined, { timeoutMs: 5000, what: 'six audit events' });
    expect(events.map((e) => [e.action, e.resource, e.outcome])).toEqual([
      ['jobconfig.created', { type: 'jobconfig', id }, 'success'],
      ['macro.created', { type: 'macro', id: `${id}/API_KEY` }, 'success'],
      ['macro.updated', { type: 'macro', id: `${id}/API_KEY` }, 'success'],
      ['macro.deleted', { type: 'macro', id: `${id}/API_KEY` }, 'success'],
      ['jobconfig.updated', { type: 'jobconfig', id }, 'success'],
      ['job.submitted', { type: 'job', id: job.body.id }, 'success'],
    ]);
    expect(events[0]).toMatchObject({
      actor: { id: '1', name: 'alice' },
      accountId: '1',
      service: 'jobconfig',
      details: { name: 'nightly', active: true },
    });
    expect(events[1]!.details).toEqual({ jobConfigId: id, name: 'API_KEY', secure: true });
    expect(JSON.stringify(events)).not.toContain(SECRET);
  });
});
