import type { Principal, UserChanged } from '@im/contracts';
import { waitFor } from '@im/testing';
import request from 'supertest';
import { UserStateRepository } from './user-state.repository';
import type { JobConfigModule } from './app';
import { routeHarness, testUsers as users, type RouteHarness } from './routes.test-support';

describe('accounts and deactivated users in jobconfig', () => {
  let h: RouteHarness;
  let app: RouteHarness['app'];
  let mod: JobConfigModule;
  let db: RouteHarness['db'];
  let bus: RouteHarness['bus'];
  let id: string;

  beforeEach(async () => {
    h = await routeHarness({ start: true });
    ({ app, mod, db, bus } = h);
    const alice = users.alice as Principal;
    id = (await mod.configs.create(alice, { name: 'alice config', blocking: true })).id;
    await mod.configs.patch(alice, id, {
      runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' },
    });
  });

  afterEach(() => h.close());

  const as = (who: string) => ({
    get: (p: string) => request(app).get(p).set('x-test-user', who),
    post: (p: string) => request(app).post(p).set('x-test-user', who).send({}),
  });

  it("keeps a configuration and its jobs in its owner's account: another account's admin gets 404s and empty lists", async () => {
    const job = (await as('alice').post(`/api/jobconfigs/${id}/jobs`)).body.id as string;
    expect((await mod.configs.findById(id))?.accountId).toBe('1');
    expect((await as('root').get(`/api/jobconfigs/${id}`)).status).toBe(200);
    expect((await as('root').get(`/api/jobs/${job}`)).status).toBe(200);
    for (const p of [`/api/jobconfigs/${id}`, `/api/jobconfigs/${id}/jobs`, `/api/jobs/${job}`])
      expect((await as('other').get(p)).status).toBe(404);
    expect((await as('other').post(`/api/jobconfigs/${id}/jobs`)).status).toBe(404);
    expect((await as('other').get('/api/jobconfigs')).body.totalRecords).toBe(0);
    expect((await as('other').get('/api/jobs')).body.totalRecords).toBe(0);
    await expect(mod.configs.assertAccess(users.other as Principal, id)).rejects.toMatchObject({
      status: 404,
    });
  });

  it("on a user's deactivation cancels their waiting jobs, refuses their runs and their token", async () => {
    const first = (await as('alice').post(`/api/jobconfigs/${id}/jobs`)).body;
    const second = (await as('alice').post(`/api/jobconfigs/${id}/jobs`)).body;
    expect([first.status, second.status]).toEqual(['QUEUED', 'SEQUENCED']);
    const change: UserChanged = {
      userId: '1',
      accountId: '1',
      name: 'alice',
      active: false,
      roles: ['user'],
      change: 'updated',
      changedBy: { id: '2', name: 'root' },
      occurredAt: new Date().toISOString(),
    };
    await bus.publish('user.changes', change);
    await waitFor(
      async () => {
        const jobs = await Promise.all([first.id, second.id].map((j: string) => mod.jobs.reload(j)));
        return jobs.every((j) => j?.status === 'CANCELLED') ? jobs : undefined;
      },
      { what: "alice's waiting jobs to be cancelled" },
    );
    expect((await mod.jobs.reload(first.id))?.stoppedBy).toEqual({ id: '2', name: 'root' });
    expect((await as('alice').get('/api/jobconfigs')).status).toBe(401);
    await expect(mod.configs.assertAccess(users.alice as Principal, id)).rejects.toMatchObject({
      status: 401,
    });
    const refused = await as('root').post(`/api/jobconfigs/${id}/jobs`);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('OWNER_INACTIVE');
    expect(await mod.configs.ownerInactive((await mod.configs.findById(id))!)).toBe(true);

    // An older record (a redelivery) does not undo a newer one; a newer activation does.
    const states = new UserStateRepository(db);
    await states.apply({ userId: '1', accountId: '1', active: true, roles: ['user'], at: 0 });
    expect(await states.isInactive('1')).toBe(true);
    await bus.publish('user.changes', {
      ...change,
      active: true,
      occurredAt: new Date(Date.now() + 1000).toISOString(),
    });
    await waitFor(
      async () => ((await as('alice').get('/api/jobconfigs')).status === 200 ? true : undefined),
      {
        what: 'alice to be active again',
      },
    );
    expect((await as('alice').post(`/api/jobconfigs/${id}/jobs`)).status).toBe(202);
  });

  it("takes the admin role from a demoted admin's still-valid token, on its routes and file-storage's", async () => {
    const job = (await as('alice').post(`/api/jobconfigs/${id}/jobs`)).body.id as string;
    expect((await as('root').get(`/api/jobconfigs/${id}`)).status).toBe(200);
    const demoted: UserChanged = {
      userId: '3',
      accountId: '1',
      name: 'root',
      active: true,
      roles: ['user'],
      change: 'updated',
      changedBy: { id: '9', name: 'boss' },
      occurredAt: new Date().toISOString(),
    };
    await bus.publish('user.changes', demoted);
    // The token still says admin; what user.changes said wins: alice's things no longer exist for root.
    await waitFor(
      async () => ((await as('root').get(`/api/jobconfigs/${id}`)).status === 404 ? true : undefined),
      { what: "root's admin role to be taken away" },
    );
    expect((await as('root').get(`/api/jobs/${job}`)).status).toBe(404);
    expect((await as('root').get('/api/jobconfigs')).body.totalRecords).toBe(0);
    await expect(mod.configs.assertAccess(users.root as Principal, id)).rejects.toMatchObject({
      status: 404,
    });
    // Promoted again: the token's admin claim counts again (it is the ceiling, never more).
    await bus.publish('user.changes', {
      ...demoted,
      roles: ['admin'],
      occurredAt: new Date(Date.now() + 1000).toISOString(),
    });
    await waitFor(
      async () => ((await as('root').get(`/api/jobconfigs/${id}`)).status === 200 ? true : undefined),
      { what: "root's admin role to be back" },
    );
    // A General User promoted to admin does not become one with the token issued before.
    await bus.publish('user.changes', { ...demoted, userId: '2', name: 'bob', roles: ['admin'] });
    await waitFor(async () => ((await new UserStateRepository(db).get('2')) ? true : undefined), {
      what: "bob's state",
    });
    expect((await as('bob').get(`/api/jobconfigs/${id}`)).status).toBe(404);
  });

  it("skips the scheduled ticks of a deactivated owner's configuration", async () => {
    await mod.schedules.put(users.alice, id, { type: 'interval', intervalFrequency: 'PT1M' });
    await db('schedules').update({ next_fire_at: Date.now() - 1000 });
    await new UserStateRepository(db).apply({
      userId: '1',
      accountId: '1',
      active: false,
      roles: ['user'],
      at: Date.now(),
    });
    const pass = await mod.scheduler.tick();
    expect(pass).toMatchObject({ fired: [], skipped: 1 });
    expect((await as('root').get(`/api/jobconfigs/${id}/jobs`)).body.totalRecords).toBe(0);
  });
});
