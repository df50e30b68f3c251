import { createDb, type Knex } from '@im/db';
import { silentLogger } from '@im/logging';
import { generateKeyPairSync } from 'node:crypto';
import request from 'supertest';
import { createApp, createAuthModule, type AuthDeps, type AuthModule } from './app';
import { trustProxyFrom } from '@im/http-kit';
import { failedLoginDelayMs, FailedLoginCounter } from './login-throttle';
import { hashPassword, legacyScryptHash, needsRehash, verifyPassword } from './password';
import { passwordWeakness } from './password-policy';

const keys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const PASSWORD = 'admin-password-123';

describe('passwords', () => {
  it('hashes with argon2id, m=19 MiB, t=2, p=1, and verifies', async () => {
    const h = await hashPassword('a-long-enough-passphrase');
    expect(h).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await verifyPassword('a-long-enough-passphrase', h)).toBe(true);
    expect(await verifyPassword('a-long-enough-passphrasf', h)).toBe(false);
    expect(needsRehash(h)).toBe(false);
  });

  it('still verifies the scrypt hashes written before argon2id, and marks them for a rehash', async () => {
    const old = await legacyScryptHash('an-old-passphrase-1');
    expect(old).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(await verifyPassword('an-old-passphrase-1', old)).toBe(true);
    expect(await verifyPassword('an-old-passphrase-2', old)).toBe(false);
    expect(needsRehash(old)).toBe(true);
    expect(needsRehash('$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaA')).toBe(true);
    expect(await verifyPassword('x', 'garbage')).toBe(false);
    expect(await verifyPassword('x', '$argon2id$garbage')).toBe(false);
  });

  it('refuses the most common passwords, common words with digits, runs, and the user name', () => {
    expect(passwordWeakness('password1234', 'bob')).toMatch(/most common/);
    expect(passwordWeakness('Password2024!', 'bob')).toMatch(/common word/);
    expect(passwordWeakness('qwerty!!1234', 'bob')).toMatch(/common word/);
    expect(passwordWeakness('aaaaaaaaaaaa', 'bob')).toMatch(/repeats/);
    expect(passwordWeakness('abcdefghijklmn', 'bob')).toMatch(/consecutive/);
    expect(passwordWeakness('1234567890123', 'bob')).toMatch(/most common/);
    expect(passwordWeakness('alice-in-the-garden', 'Alice')).toMatch(/user name/);
    expect(passwordWeakness('river-stone-4821', 'bob')).toBeUndefined();
    expect(passwordWeakness('correct horse battery', 'bob')).toBeUndefined();
  });
});

describe('the failed-login counters', () => {
  it('locks an address out after the limit within the window, for the lockout time', () => {
    let now = 1_000_000;
    const t = new FailedLoginCounter({ maxFailures: 3, windowSeconds: 60, lockoutSeconds: 30 }, () => now);
    t.recordFailure('10.0.0.1');
    t.recordFailure('10.0.0.1');
    expect(t.retryAfterSeconds('10.0.0.1')).toBe(0);
    t.recordFailure('10.0.0.1');
    expect(t.retryAfterSeconds('10.0.0.1')).toBe(30);
    expect(t.retryAfterSeconds('10.0.0.2')).toBe(0);
    now += 29_500;
    expect(t.retryAfterSeconds('10.0.0.1')).toBe(1);
    now += 600;
    expect(t.retryAfterSeconds('10.0.0.1')).toBe(0);
  });

  it('starts a new window after the old one passed', () => {
    let now = 0;
    const t = new FailedLoginCounter({ maxFailures: 2, windowSeconds: 10, lockoutSeconds: 30 }, () => now);
    t.recordFailure('a');
    now = 10_000;
    t.recordFailure('a');
    expect(t.retryAfterSeconds('a')).toBe(0);
  });

  it('keeps at most maxEntries addresses, forgetting the oldest', () => {
    const t = new FailedLoginCounter({
      maxFailures: 2,
      windowSeconds: 60,
      lockoutSeconds: 60,
      maxEntries: 100,
    });
    for (let i = 0; i < 1000; i++) t.recordFailure(`10.0.${i >> 8}.${i & 255}`);
    expect(t.size).toBe(100);
  });

  it('counts failures within the window and forgets a cleared key', () => {
    let now = 0;
    const t = new FailedLoginCounter(
      { maxFailures: Infinity, windowSeconds: 10, lockoutSeconds: 10 },
      () => now,
    );
    t.recordFailure('bob');
    t.recordFailure('bob');
    expect(t.failures('bob')).toBe(2);
    expect(t.retryAfterSeconds('bob')).toBe(0);
    t.clear('bob');
    expect(t.failures('bob')).toBe(0);
    t.recordFailure('bob');
    now = 10_000;
    expect(t.failures('bob')).toBe(0);
  });

  it('waits longer with each recent failure of a name, doubling up to the maximum', () => {
    const s = { baseMs: 250, maxMs: 4000 };
    expect([0, 1, 2, 3, 4, 5, 6, 1000].map((n) => failedLoginDelayMs(n, s))).toEqual([
      0, 250, 500, 1000, 2000, 4000, 4000, 4000,
    ]);
    expect(failedLoginDelayMs(3, { baseMs: 250, maxMs: 0 })).toBe(0);
  });
});

describe('logging in', () => {
  let db: Knex;
  let mod: AuthModule;
  let app: ReturnType<typeof createApp>;
  const deps = (): AuthDeps => ({
    db,
    logger: silentLogger(),
    settings: {
      jwtPrivateKey: keys.privateKey,
      accessTokenTtlSeconds: 36000,
      refreshTokenTtlSeconds: 600,
      maxFailedLogins: 3,
      lockoutSeconds: 60,
      loginDelay: { baseMs: 1, maxMs: 4 },
      ipThrottle: { maxFailures: 6, windowSeconds: 900, lockoutSeconds: 900 },
    },
  });

  beforeEach(async () => {
    db = createDb({ client: 'sqlite', filename: ':memory:' });
    mod = createAuthModule(deps());
    await mod.migrate();
    await mod.service.bootstrapAdmin(PASSWORD);
    // As behind the gateway: the test client (loopback) says which address it logs in from.
    app = createApp({ ...deps(), trustProxy: trustProxyFrom(['loopback'], { oneHop: true }) });
  });

  afterEach(async () => {
    await db.destroy();
  });

  const login = (username: string, password: string, ip = '203.0.113.7') =>
    request(app).post('/api/login').set('x-forwarded-for', ip).send({ username, password });
  const adminToken = async () => (await login('admin', PASSWORD, '198.51.100.1')).body.access_token as string;

  it('answers an unknown user exactly as a wrong password, and a locked-out user too', async () => {
    const unknown = await login('ghost', 'whatever-password');
    const wrong = await login('admin', 'whatever-password');
    const strip = (t: string) => ({ ...JSON.parse(t), requestId: undefined });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(strip(unknown.text)).toEqual(strip(wrong.text));
    // Locked out from this address now (3 failures), the right password gets that same answer.
    await login('admin', 'whatever-password');
    await login('admin', 'whatever-password');
    const locked = await login('admin', PASSWORD);
    expect(locked.status).toBe(401);
    expect(strip(locked.text)).toEqual(strip(wrong.text));
  });

  it("locks a user out only from the addresses that failed: the user's own still logs in", async () => {
    // Three failures from each of three other addresses: all three pairs are locked out.
    for (const ip of ['198.51.100.7', '198.51.100.8', '198.51.100.9'])
      for (let i = 0; i < 3; i++) expect((await login('admin', 'wrong-password-1', ip)).status).toBe(401);
    expect((await login('admin', PASSWORD, '198.51.100.7')).status).toBe(401);
    expect((await login('admin', PASSWORD, '203.0.113.1')).status).toBe(200);
    // An unknown name is locked out the same way (nothing tells it apart from a user).
    for (let i = 0; i < 3; i++) await login('ghost', 'wrong-password-1', '198.51.100.7');
    expect((await login('ghost', 'wrong-password-1', '203.0.113.1')).status).toBe(401);
  });

  it('makes each login of a name with recent failures wait longer, the same for unknown names', async () => {
    const slow = createApp({
      ...deps(),
      settings: {
        ...deps().settings,
        maxFailedLogins: 1000,
        loginDelay: { baseMs: 100, maxMs: 400 },
        ipThrottle: { maxFailures: 1000, windowSeconds: 60, lockoutSeconds: 60 },
      },
    });
    const time = async (username: string) => {
      const t0 = Date.now();
      await request(slow).post('/api/login').send({ username, password: 'not-the-password-1' });
      return Date.now() - t0;
    };
    for (const name of ['admin', 'ghost']) {
      for (let i = 0; i < 3; i++) await time(name);
      // Three failures: 100 × 2² = 400 ms before the password is even looked at.
      expect(await time(name)).toBeGreaterThanOrEqual(400);
    }
    // A successful login ends the wait for that name.
    await request(slow).post('/api/login').send({ username: 'admin', password: PASSWORD });
    expect(await time('admin')).toBeLessThan(400);
  });

  it('takes about as long for an unknown user as for a wrong password (both verify an argon2id hash)', async () => {
    // Behaviour, not a speed target: the medians of 20 each lie within a factor of 2 of each other
    // (medians: a pause of the machine in one sample must not decide it).
    const app2 = createApp({
      ...deps(),
      settings: {
        ...deps().settings,
        maxFailedLogins: 1000,
        loginDelay: { baseMs: 0, maxMs: 0 },
        ipThrottle: { maxFailures: 1000, windowSeconds: 60, lockoutSeconds: 60 },
      },
    });
    const time = async (username: string) => {
      const t0 = process.hrtime.bigint();
      const r = await request(app2).post('/api/login').send({ username, password: 'not-the-password-1' });
      expect(r.status).toBe(401);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    await time('ghost'); // warm-up: the dummy hash is made once
    await time('admin');
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 20; i++) {
      unknown.push(await time(`ghost-${i}`));
      wrong.push(await time('admin'));
    }
    const median = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return (sorted[(sorted.length - 1) >> 1]! + sorted[sorted.length >> 1]!) / 2;
    };
    const ratio = median(unknown) / median(wrong);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });

  it('refuses an address after repeated failures with 429 and Retry-After; other addresses still log in', async () => {
    for (let i = 0; i < 6; i++) expect((await login(`ghost-${i}`, 'wrong-password-1')).status).toBe(401);
    const refused = await login('admin', PASSWORD);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('900');
    expect(JSON.parse(refused.text)).toMatchObject({ code: 'RATE_LIMITED' });
    expect(JSON.parse(refused.text).detail).toMatch(/Too many failed logins from this address/);
    expect((await login('admin', PASSWORD, '203.0.113.8')).status).toBe(200);
  });

  it('rehashes a scrypt hash to argon2id at the next successful login', async () => {
    await db('users')
      .where({ name_key: 'admin' })
      .update({ password_hash: await legacyScryptHash(PASSWORD) });
    expect((await login('admin', 'wrong-password-1')).status).toBe(401);
    expect((await db('users').where({ name_key: 'admin' }).first()).password_hash).toMatch(/^scrypt\$/);
    expect((await login('admin', PASSWORD)).status).toBe(200);
    expect((await db('users').where({ name_key: 'admin' }).first()).password_hash).toMatch(/^\$argon2id\$/);
    expect((await login('admin', PASSWORD)).status).toBe(200);
  });

  it('applies the password policy to new users and password changes (400 naming the field)', async () => {
    const token = await adminToken();
    const weak = await request(app)
      .post('/api/users')
      .set('authorization', `Bearer ${token}`)
      .send({ name: 'carol', password: 'carol-is-my-name' });
    expect(weak.status).toBe(400);
    expect(JSON.parse(weak.text)).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ path: 'password', message: 'may not contain the user name' }],
    });
    const common = await request(app)
      .post('/api/users')
      .set('authorization', `Bearer ${token}`)
      .send({ name: 'carol', password: 'Password2024!' });
    expect(common.status).toBe(400);
    expect(JSON.parse(common.text).errors[0].path).toBe('password');
    const change = await request(app)
      .post('/api/users/1/password')
      .set('authorization', `Bearer ${token}`)
      .send({ currentPassword: PASSWORD, newPassword: 'password1234' });
    expect(change.status).toBe(400);
    expect(JSON.parse(change.text).errors[0]).toMatchObject({ path: 'newPassword' });
  });
});
