import { createDb, type Knex } from '@im/db';
import { silentLogger } from '@im/logging';
import { infraEnv, uniqueName } from '@im/testing';
import { generateKeyPairSync } from 'node:crypto';
import request from 'supertest';
import { createApp, createAuthModule } from './app';

/** The auth service on the real PostgreSQL that scripts/infra starts: the same code as on SQLite. */
describe('auth service on PostgreSQL', () => {
  const schema = uniqueName('auth');
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  let db: Knex;

  const deps = () => ({
    db,
    dbSchema: schema,
    logger: silentLogger(),
    jwtPublicKey: keys.publicKey,
    settings: {
      jwtPrivateKey: keys.privateKey,
      accessTokenTtlSeconds: 60,
      refreshTokenTtlSeconds: 600,
      maxFailedLogins: 3,
      lockoutSeconds: 60,
    },
  });

  beforeAll(async () => {
    db = createDb({ client: 'postgres', url: infraEnv().pgUrl, schema, poolMax: 4 });
    const mod = createAuthModule(deps());
    await mod.migrate();
    await mod.service.bootstrapAdmin('admin-password-123');
  });

  afterAll(async () => {
    await db.raw('drop schema if exists ?? cascade', [schema]);
    await db.destroy();
  });

  it('logs in, rotates the refresh token once, and refuses its reuse, revoking its family', async () => {
    const app = createApp(deps());
    const login = await request(app)
      .post('/api/login')
      .send({ username: 'ADMIN', password: 'admin-password-123' });
    expect(login.status).toBe(200);
    const me = await request(app).get('/api/user').set('authorization', `Bearer ${login.body.access_token}`);
    expect(me.body).toMatchObject({ id: '1', name: 'admin', roles: ['admin'] });
    const refreshed = await request(app)
      .post('/api/login/refresh')
      .send({ refresh_token: login.body.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).not.toBe(login.body.refresh_token);
    const reused = await request(app)
      .post('/api/login/refresh')
      .send({ refresh_token: login.body.refresh_token });
    expect(reused.status).toBe(401);
    // The reuse revoked the whole family: the token the first refresh issued is dead too.
    const next = await request(app)
      .post('/api/login/refresh')
      .send({ refresh_token: refreshed.body.refresh_token });
    expect(next.status).toBe(401);
  });
});
