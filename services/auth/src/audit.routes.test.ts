import type { AuditEvent, Principal } from '@im/contracts';
import { createDb, migrateLatest, type Knex } from '@im/db';
import { createServiceApp } from '@im/http-kit';
import { silentLogger } from '@im/logging';
import { InProcessEventBus } from '@im/messaging';
import { waitFor } from '@im/testing';
import type { RequestHandler } from 'express';
import request from 'supertest';
import { authMigrations } from './auth.migrations';
import { AuditRepository } from './audit.repository';
import { auditRoutes } from './audit.routes';
import { startAuditStore } from './audit.store';

const admin: Principal = { id: '1', name: 'admin', roles: ['admin'], accountId: '1' };
const otherAdmin: Principal = { id: '9', name: 'boss', roles: ['admin'], accountId: '2' };
const user: Principal = { id: '2', name: 'ada', roles: ['user'], accountId: '1' };

let n = 0;
const event = (over: Partial<AuditEvent> = {}): AuditEvent => ({
  id: `e-${++n}`,
  time: new Date(Date.UTC(2026, 10, 28, 10, 0, n)).toISOString(),
  actor: { id: '1', name: 'admin' },
  accountId: '1',
  action: 'jobconfig.created',
  resource: { type: 'jobconfig', id: '7' },
  outcome: 'success',
  sourceIp: '203.0.113.5',
  requestId: `r-${n}`,
  service: 'jobconfig',
  details: { name: 'nightly' },
  ...over,
});

describe('GET /api/audit', () => {
  let db: Knex;
  let bus: InProcessEventBus;
  let repo: AuditRepository;
  let as: Principal;

  const authenticate: RequestHandler = (req, _res, next) => {
    req.principal = as;
    next();
  };
  const app = () =>
    createServiceApp({ logger: silentLogger(), readiness: {} }, auditRoutes({ audit: repo, authenticate }));

  beforeEach(async () => {
    db = createDb({ client: 'sqlite', filename: ':memory:' });
    await migrateLatest(db, authMigrations);
    bus = new InProcessEventBus(silentLogger());
    repo = new AuditRepository(db);
    as = admin;
  });
  afterEach(async () => {
    await bus.close();
    await db.destroy();
  });

  it('stores what the topic carries, once per id, and serves it newest first', async () => {
    const sub = await startAuditStore(bus, repo, silentLogger(), 'test.audit');
    const first = event({
      action: 'login.failed',
      outcome: 'failure',
      actor: null,
      accountId: null,
      details: { username: 'admin' },
    });
    const second = event();
    await bus.publish('audit.events', first);
    await bus.publish('audit.events', second);
    await bus.publish('audit.events', second); // redelivered
    const res = await waitFor(
      async () => {
        const r = await request(app()).get('/api/audit');
        return r.body.totalRecords === 2 ? r : undefined;
      },
      { timeoutMs: 5000, what: 'two stored audit events' },
    );
    expect(res.body.items).toEqual([second, first]);
    expect(res.headers['cache-control']).toBe('no-store');
    await sub.close();
  });

  it('filters by action, actor, resource, outcome and time, and pages', async () => {
    for (const e of [
      event({ action: 'login.succeeded' }),
      event({
        action: 'macro.created',
        resource: { type: 'macro', id: '7/DB' },
        actor: { id: '2', name: 'ada' },
      }),
      event({ action: 'jobconfig.deleted', outcome: 'failure' }),
      event({ action: 'job.submitted', resource: { type: 'job', id: 'j-1' } }),
    ])
      await repo.insert(e);
    const get = async (q: string) => (await request(app()).get(`/api/audit?${q}`)).body;
    expect((await get('action=macro.created')).items.map((e: AuditEvent) => e.resource)).toEqual([
      { type: 'macro', id: '7/DB' },
    ]);
    expect((await get('actorId=2')).totalRecords).toBe(1);
    expect((await get('resourceType=job&resourceId=j-1')).items[0].action).toBe('job.submitted');
    expect((await get('outcome=failure')).items[0].action).toBe('jobconfig.deleted');
    const all = (await get('sortby=time&direction=asc')).items as AuditEvent[];
    expect((await get(`from=${all[1]!.time}&to=${all[3]!.time}`)).totalRecords).toBe(2);
    const page = await get('size=3&offset=1');
    expect(page).toMatchObject({ totalRecords: 4, totalPages: 2, pageNumber: 1, size: 3 });
    expect(page.items).toHaveLength(1);
    expect(page.links.prev).toContain('offset=0');
  });

  it('answers 400 for a bad filter or sort field', async () => {
    const bad = await request(app()).get('/api/audit?action=nope');
    expect(bad.status).toBe(400);
    expect((await request(app()).get('/api/audit?from=yesterday')).status).toBe(400);
    expect((await request(app()).get('/api/audit?sortby=details')).status).toBe(400);
  });

  it('is for administrators of the account only', async () => {
    await repo.insert(event());
    await repo.insert(event({ accountId: '2' }));
    await repo.insert(event({ accountId: null, actor: null, action: 'login.failed', outcome: 'failure' }));
    as = user;
    const res = await request(app()).get('/api/audit');
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    as = otherAdmin;
    const theirs = await request(app()).get('/api/audit');
    expect(theirs.body.items.map((e: AuditEvent) => e.accountId)).toEqual(['2']);
    as = admin;
    // The first account's administrators also see what no account owns (failed logins).
    expect((await request(app()).get('/api/audit')).body.items.map((e: AuditEvent) => e.accountId)).toEqual([
      null,
      '1',
    ]);
  });
});
