import type { UserChanged } from '@im/contracts';
import { createDb, type Knex } from '@im/db';
import { silentLogger } from '@im/logging';
import { InProcessEventBus, type EventBus } from '@im/messaging';
import { waitFor } from '@im/testing';
import { generateKeyPairSync } from 'node:crypto';
import request from 'supertest';
import { createApp, createAuthModule, type AuthDeps } from './app';

const keys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const PASSWORD = 'admin-password-123';

describe('accounts and the users of an account', () => {
  let db: Knex;
  let bus: InProcessEventBus;
  let app: ReturnType<typeof createApp>;
  const changes: UserChanged[] = [];
  const deps = (over: Partial<AuthDeps> = {}): AuthDeps => ({
    db,
    bus,
    logger: silentLogger(),
    settings: {
      jwtPrivateKey: keys.privateKey,
      accessTokenTtlSeconds: 3600,
      refreshTokenTtlSeconds: 600,
      maxFailedLogins: 5,
      lockoutSeconds: 60,
    },
    ...over,
  });

  beforeEach(async () => {
    db = createDb({ client: 'sqlite', filename: ':memory:' });
    bus = new InProcessEventBus(silentLogger());
    changes.length = 0;
    await bus.subscribe({
      groupId: 'test',
      topic: 'user.changes',
      handler: async (e) => void changes.push(e),
    });
    const mod = createAuthModule(deps());
    await mod.migrate();
    await mod.service.bootstrapAdmin(PASSWORD);
    app = createApp(deps());
  });

  afterEach(async () => {
    await bus.close();
    await db.destroy();
  });

  const login = async (username: string, password: string) => {
    const r = await request(app).post('/api/login').send({ username, password });
    expect(r.status).toBe(200);
    return r.body as { access_token: string; refresh_token: string };
  };
  const claims = (token: string) =>
    JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
  const as = (token: string) => ({
    get: (p: string) => request(app).get(p).set('authorization', `Bearer ${token}`),
    post: (p: string, body?: object) =>
      request(app)
        .post(p)
        .set('authorization', `Bearer ${token}`)
        .send(body ?? {}),
    put: (p: string, body: object) => request(app).put(p).set('authorization', `Bearer ${token}`).send(body),
  });

  /** Account B with its admin, created by the first account's admin. */
  const accountB = async (adminToken: string) => {
    const r = await as(adminToken).post('/api/accounts', {
      name: 'Tenant B',
      admin: { name: 'b-admin', password: 'river-stone-4821' },
    });
    expect(r.status).toBe(201);
    return r.body as { id: string; admin: { id: string; account: { id: string } } };
  };

  it('puts the first administrator in the default account and its id in the token', async () => {
    const { access_token } = await login('admin', PASSWORD);
    expect(claims(access_token)).toMatchObject({ sub: '1', acc: '1', roles: ['admin'] });
    const me = await as(access_token).get('/api/user');
    expect(me.body.account).toEqual({
      id: '1',
      name: 'Default',
      href: expect.stringMatching(/\/api\/account$/),
    });
    expect((await as(access_token).get('/api/account')).body).toMatchObject({ id: '1', name: 'Default' });
  });

  it("creates an account with its first admin; only the first account's admins may", async () => {
    const a = (await login('admin', PASSWORD)).access_token;
    const b = await accountB(a);
    expect(b).toMatchObject({ id: '2', name: 'Tenant B', admin: { name: 'b-admin', roles: ['admin'] } });
    expect(b.admin.account.id).toBe('2');
    const bToken = (await login('b-admin', 'river-stone-4821')).access_token;
    expect(claims(bToken).acc).toBe('2');
    const again = await as(bToken).post('/api/accounts', {
      name: 'Tenant C',
      admin: { name: 'c-admin', password: 'river-stone-4821' },
    });
    expect(again.status).toBe(403);
    // The same name twice, a taken admin name, a bad body: 4xx, and nothing half-created.
    const dup = await as(a).post('/api/accounts', {
      name: 'tenant b',
      admin: { name: 'x-admin', password: 'river-stone-4821' },
    });
    expect(dup.status).toBe(409);
    const taken = await as(a).post('/api/accounts', {
      name: 'Tenant D',
      admin: { name: 'b-admin', password: 'river-stone-4821' },
    });
    expect(taken.body.code).toBe('USERNAME_TAKEN');
    expect((await as(a).post('/api/accounts', { name: 'Tenant D' })).status).toBe(400);
    const retry = await as(a).post('/api/accounts', {
      name: 'Tenant D',
      admin: { name: 'd-admin', password: 'river-stone-4821' },
    });
    expect(retry.status).toBe(201);
    const bUser = await as(bToken).get(`/api/users/${b.admin.id}`);
    expect(bUser.status).toBe(200);
  });

  it("lets an admin manage only the users of their own account; other accounts' users do not exist", async () => {
    const a = (await login('admin', PASSWORD)).access_token;
    await accountB(a);
    const bToken = (await login('b-admin', 'river-stone-4821')).access_token;
    const bob = await as(bToken).post('/api/users', { name: 'bob', password: 'river-stone-4821' });
    expect(bob.status).toBe(201);
    expect(bob.body.account).toMatchObject({ id: '2', name: 'Tenant B' });
    const listB = await as(bToken).get('/api/users');
    expect(listB.body.items.map((u: { name: string }) => u.name).sort()).toEqual(['b-admin', 'bob']);
    const listA = await as(a).get('/api/users');
    expect(listA.body.items.map((u: { name: string }) => u.name)).toEqual(['admin']);
    for (const r of [
      await as(a).get(`/api/users/${bob.body.id}`),
      await as(a).put(`/api/users/${bob.body.id}`, { active: false }),
      await as(a).post(`/api/users/${bob.body.id}/password`, { newPassword: 'other-stone-4821' }),
      await as(bToken).get('/api/users/1'),
    ])
      expect(r.status).toBe(404);
    const bobToken = (await login('bob', 'river-stone-4821')).access_token;
    expect((await as(bobToken).get('/api/users')).status).toBe(403);
    expect((await as(bobToken).put(`/api/users/${bob.body.id}`, { roles: ['admin'] })).status).toBe(403);
  });

  it('deactivates: announces user.changes, refuses the login, the refresh and the still-valid token', async () => {
    const a = (await login('admin', PASSWORD)).access_token;
    const carol = await as(a).post('/api/users', { name: 'carol', password: 'river-stone-4821' });
    const session = await login('carol', 'river-stone-4821');
    expect((await as(session.access_token).get('/api/user')).status).toBe(200);
    const off = await as(a).put(`/api/users/${carol.body.id}`, { active: false });
    expect(off.status).toBe(200);
    expect(off.body.active).toBe(false);
    await waitFor(async () => (changes.length >= 2 ? true : undefined), { what: 'the user changes' });
    expect(changes.map((c) => [c.userId, c.change, c.active])).toEqual([
      [carol.body.id, 'created', true],
      [carol.body.id, 'updated', false],
    ]);
    expect(changes[1]).toMatchObject({ accountId: '1', changedBy: { id: '1', name: 'admin' } });
    expect((await as(session.access_token).get('/api/user')).status).toBe(401);
    expect(
      (await request(app).post('/api/login').send({ username: 'carol', password: 'river-stone-4821' }))
        .status,
    ).toBe(401);
    expect(
      (await request(app).post('/api/login/refresh').send({ refresh_token: session.refresh_token })).status,
    ).toBe(401);
  });

  it("takes the role from a demoted admin's still-valid token at once: no user management, no re-granting", async () => {
    const a = (await login('admin', PASSWORD)).access_token;
    const eve = await as(a).post('/api/users', {
      name: 'eve',
      password: 'river-stone-4821',
      roles: ['admin'],
    });
    const frank = await as(a).post('/api/users', { name: 'frank', password: 'river-stone-4821' });
    const e = (await login('eve', 'river-stone-4821')).access_token;
    expect((await as(e).get('/api/users')).status).toBe(200);
    expect((await as(a).put(`/api/users/${eve.body.id}`, { roles: ['user'] })).status).toBe(200);
    // The token still says admin; the user table does not.
    expect(claims(e).roles).toEqual(['admin']);
    for (const r of [
      await as(e).get('/api/users'),
      await as(e).post('/api/users', { name: 'mallory', password: 'river-stone-4821', roles: ['admin'] }),
      await as(e).put(`/api/users/${eve.body.id}`, { roles: ['admin'] }),
      await as(e).post(`/api/users/${frank.body.id}/password`, { newPassword: 'other-stone-4821' }),
      await as(e).post('/api/accounts', {
        name: 'X',
        admin: { name: 'x-admin', password: 'river-stone-4821' },
      }),
      await as(e).get('/api/audit'),
    ])
      expect(r.status).toBe(403);
    expect((await as(e).get(`/api/users/${frank.body.id}`)).status).toBe(404);
    expect((await as(e).get('/api/user')).status).toBe(200);
    // Given back by another admin, the same token is an admin's again (never more than it says).
    expect((await as(a).put(`/api/users/${eve.body.id}`, { roles: ['admin'] })).status).toBe(200);
    expect((await as(e).get('/api/users')).status).toBe(200);
  });

  it('lets nobody change their own roles or grant a role they do not hold', async () => {
    const a = (await login('admin', PASSWORD)).access_token;
    const own = await as(a).put('/api/users/1', { roles: ['admin', 'user'] });
    expect(own.status).toBe(400);
    expect(own.body.errors[0]).toMatchObject({ path: 'roles' });
    expect((await as(a).put('/api/users/1', { roles: ['admin'] })).status).toBe(200);
    const gus = await as(a).post('/api/users', { name: 'gus', password: 'river-stone-4821' });
    const g = (await login('gus', 'river-stone-4821')).access_token;
    expect((await as(g).put(`/api/users/${gus.body.id}`, { roles: ['admin'] })).status).toBe(403);
    expect((await as(a).get(`/api/users/${gus.body.id}`)).body.roles).toEqual(['user']);
    // Below the routes too: an actor without the admin role cannot hand it out, whatever lets it call.
    const { service } = createAuthModule(deps());
    const plain = { id: gus.body.id as string, name: 'gus', roles: ['user' as const], accountId: '1' };
    await expect(
      service.create(plain, { name: 'hank', password: 'river-stone-4821', roles: ['admin'], active: true }),
    ).rejects.toMatchObject({ status: 403 });
    await expect(service.update(plain, gus.body.id, { roles: ['admin'] })).rejects.toMatchObject({
      status: 403,
    });
  });

  it('rolls a change back when it cannot be announced (503), so jobconfig never misses a deactivation', async () => {
    const a = (await login('admin', PASSWORD)).access_token;
    const dave = await as(a).post('/api/users', { name: 'dave', password: 'river-stone-4821' });
    const broken = { publish: () => Promise.reject(new Error('broker down')) } as unknown as EventBus;
    const brokenApp = createApp(deps({ bus: broken }));
    const r = await request(brokenApp)
      .put(`/api/users/${dave.body.id}`)
      .set('authorization', `Bearer ${a}`)
      .send({ active: false });
    expect(r.status).toBe(503);
    expect((await as(a).get(`/api/users/${dave.body.id}`)).body.active).toBe(true);
  });
});
