import { createDb, type Knex } from '@im/db';
import { silentLogger } from '@im/logging';
import { generateKeyPairSync } from 'node:crypto';
import request from 'supertest';
import { createApp, createAuthModule, type AuthModule } from './app';

const keys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});

describe('auth service', () => {
  let db: Knex;
  let mod: AuthModule;
  let app: ReturnType<typeof createApp>;

  beforeEach(async () => {
    db = createDb({ client: 'sqlite', filename: ':memory:' });
    const deps = {
      db,
      logger: silentLogger(),
      jwtPublicKey: keys.publicKey,
      settings: {
        jwtPrivateKey: keys.privateKey,
        accessTokenTtlSeconds: 60,
        refreshTokenTtlSeconds: 600,
        maxFailedLogins: 3,
        lockoutSeconds: 60,
      },
    };
    mod = createAuthModule(deps);
    await mod.migrate();
    app = createApp(deps);
  });

  afterEach(async () => {
    await db.destroy();
  });

  const login = (username: string, password: string) =>
    request(app).post('/api/login').send({ username, password });

  it('creates the first admin once, with a generated password when none is given', async () => {
    const first = await mod.service.bootstrapAdmin(undefined);
    expect(first.created).toBe(true);
    expect(first.generatedPassword).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect((await login('admin', first.generatedPassword!)).status).toBe(200);
    expect(await mod.service.bootstrapAdmin('another-password-1')).toEqual({ created: false });
  });

  it('gives an unknown user the same answer as a wrong password', async () => {
    await mod.service.bootstrapAdmin('admin-password-123');
    const unknown = await login('ghost', 'whatever-password');
    const wrong = await login('admin', 'whatever-password');
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(JSON.parse(unknown.text).detail).toBe(JSON.parse(wrong.text).detail);
    expect(unknown.headers['cache-control']).toBe('no-store');
  });

  it('locks an account after repeated failures, even for the right password', async () => {
    await mod.service.bootstrapAdmin('admin-password-123');
    for (let i = 0; i < 3; i++) expect((await login('admin', 'wrong-password')).status).toBe(401);
    expect((await login('admin', 'admin-password-123')).status).toBe(401);
  });

  it('lets admins manage users and users change only their own password', async () => {
    await mod.service.bootstrapAdmin('admin-password-123');
    const adminToken = (await login('admin', 'admin-password-123')).body.access_token as string;
    const created = await request(app)
      .post('/api/users')
      .set('authorization', `Bearer ${adminToken}`)
      .send({ name: 'bob', password: 'river-stone-4821' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'bob', roles: ['user'], active: true });
    expect(created.body).not.toHaveProperty('password');
    const dup = await request(app)
      .post('/api/users')
      .set('authorization', `Bearer ${adminToken}`)
      .send({ name: 'BOB', password: 'river-stone-4821' });
    expect(dup.status).toBe(409);
    const short = await request(app)
      .post('/api/users')
      .set('authorization', `Bearer ${adminToken}`)
      .send({ name: 'eve', password: 'short' });
    expect(short.status).toBe(400);
    expect(JSON.parse(short.text).errors).toEqual([
      { path: 'password', message: 'must be at least 12 characters' },
    ]);

    const bobToken = (await login('bob', 'river-stone-4821')).body.access_token as string;
    expect((await request(app).get('/api/users').set('authorization', `Bearer ${bobToken}`)).status).toBe(
      403,
    );
    expect(
      (
        await request(app)
          .post('/api/users/1/password')
          .set('authorization', `Bearer ${bobToken}`)
          .send({ newPassword: 'new-password-1234' })
      ).status,
    ).toBe(403);
    const wrongCurrent = await request(app)
      .post(`/api/users/${created.body.id}/password`)
      .set('authorization', `Bearer ${bobToken}`)
      .send({ currentPassword: 'nope', newPassword: 'new-password-1234' });
    expect(wrongCurrent.status).toBe(400);
    const ok = await request(app)
      .post(`/api/users/${created.body.id}/password`)
      .set('authorization', `Bearer ${bobToken}`)
      .send({ currentPassword: 'river-stone-4821', newPassword: 'new-password-1234' });
    expect(ok.status).toBe(204);
    expect((await login('bob', 'new-password-1234')).status).toBe(200);
  });

  it('deactivating a user stops their logins and refresh tokens', async () => {
    await mod.service.bootstrapAdmin('admin-password-123');
    const adminToken = (await login('admin', 'admin-password-123')).body.access_token as string;
    const bob = await request(app)
      .post('/api/users')
      .set('authorization', `Bearer ${adminToken}`)
      .send({ name: 'bob', password: 'river-stone-4821' });
    const bobLogin = await login('bob', 'river-stone-4821');
    await request(app)
      .put(`/api/users/${bob.body.id}`)
      .set('authorization', `Bearer ${adminToken}`)
      .send({ active: false });
    expect((await login('bob', 'river-stone-4821')).status).toBe(401);
    expect(
      (await request(app).post('/api/login/refresh').send({ refresh_token: bobLogin.body.refresh_token }))
        .status,
    ).toBe(401);
  });

  it("logout revokes the caller's refresh tokens", async () => {
    await mod.service.bootstrapAdmin('admin-password-123');
    const t = (await login('admin', 'admin-password-123')).body;
    expect(
      (await request(app).post('/api/logout').set('authorization', `Bearer ${t.access_token}`)).status,
    ).toBe(204);
    expect(
      (await request(app).post('/api/login/refresh').send({ refresh_token: t.refresh_token })).status,
    ).toBe(401);
  });
});
