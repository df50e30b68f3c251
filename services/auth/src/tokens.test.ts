import { createDb, type Knex } from '@im/db';
import {
  createAuthenticator,
  createServiceApp,
  JWT_AUDIENCE,
  JWT_ISSUER,
  principalOf,
  type JsonWebKeySet,
  publicJwk,
} from '@im/http-kit';
import { silentLogger } from '@im/logging';
import express, { type Express } from 'express';
import jwt from 'jsonwebtoken';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createApp, createAuthModule, type AuthDeps } from './app';

const pair = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
const keyA = pair(); // the previous key
const keyB = pair(); // the current key
const keyC = pair(); // nobody's key
const keyD = pair(); // the next key
const PASSWORD = 'admin-password-123';

/**
 * Access and refresh tokens end to end over real HTTP: the auth app signs and serves its JWKS; a
 * service app verifies with http-kit's authenticator against that JWKS URL, as every service does.
 */
describe('access tokens verified against the JWKS, and refresh-token families', () => {
  let db: Knex;
  let authApp: Express;
  let server: http.Server;
  let jwksUrl: string;
  let jwksFetches = 0;
  let service: Express;

  const deps = (privateKey: string, previous: string[]): AuthDeps => ({
    db,
    logger: silentLogger(),
    settings: {
      jwtPrivateKey: privateKey,
      jwtPreviousPublicKeys: previous,
      accessTokenTtlSeconds: 36000,
      refreshTokenTtlSeconds: 600,
      maxFailedLogins: 5,
      lockoutSeconds: 60,
    },
  });
  /** The auth service (re)started with a signing key and the other keys its JWKS lists. */
  const startAuth = (privateKey: string, previous: string[]) => {
    authApp = createApp(deps(privateKey, previous));
  };
  const serviceApp = () => {
    const r = express.Router();
    r.get('/api/whoami', createAuthenticator({ jwksUrl, jwksRequestsPerMinute: 600 }), (req, res) => {
      res.json(principalOf(req));
    });
    return createServiceApp({ logger: silentLogger(), readiness: {} }, r);
  };
  const whoami = (token: string, app: Express = service) =>
    request(app).get('/api/whoami').set('authorization', `Bearer ${token}`);
  const login = async () => {
    const r = await request(authApp).post('/api/login').send({ username: 'admin', password: PASSWORD });
    expect(r.status).toBe(200);
    return r.body as { access_token: string; refresh_token: string; expires_in: number; token_type: string };
  };
  const refresh = (token: string) =>
    request(authApp).post('/api/login/refresh').send({ refresh_token: token });

  /** A token as an attacker (or a test) makes it: valid claims unless overridden. */
  const forge = (
    key: string | KeyObject,
    opts: { kid?: string; alg?: jwt.Algorithm; claims?: Record<string, unknown> } = {},
  ) => {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      sub: '1',
      name: 'admin',
      roles: ['admin'],
      acc: '1',
      iss: JWT_ISSUER,
      aud: JWT_AUDIENCE,
      iat: now,
      nbf: now,
      exp: now + 3600,
      ...opts.claims,
    };
    for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
    return jwt.sign(claims, key, {
      algorithm: opts.alg ?? 'RS256',
      ...(opts.kid ? { keyid: opts.kid } : {}),
    });
  };
  const kidOf = (pem: string) => publicJwk(pem).kid;

  beforeAll(async () => {
    db = createDb({ client: 'sqlite', filename: ':memory:' });
    const mod = createAuthModule(deps(keyB.privateKey, [keyA.publicKey]));
    await mod.migrate();
    await mod.service.bootstrapAdmin(PASSWORD);
    startAuth(keyB.privateKey, [keyA.publicKey]);
    const front = express();
    front.use((req, res, next) => {
      if (req.path === '/api/.well-known/jwks.json') jwksFetches++;
      authApp(req, res, next);
    });
    server = http.createServer(front);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/.well-known/jwks.json`;
    service = serviceApp();
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await new Promise((resolve) => server.close(resolve));
    await db.destroy();
  });

  it('serves the JWKS publicly: the current key first (kid = RFC 7638 thumbprint), then the previous one', async () => {
    const r = await request(authApp).get('/api/.well-known/jwks.json');
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('public, max-age=300');
    expect(r.body.keys.map((k: { kid: string }) => k.kid)).toEqual([
      kidOf(keyB.publicKey),
      kidOf(keyA.publicKey),
    ]);
    expect(r.body.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
    expect(JSON.stringify(r.body)).not.toMatch(/"d"|"p"|"q"|PRIVATE/);
    // The RFC 7638 example key has this thumbprint.
    const rfcKey = {
      kty: 'RSA',
      e: 'AQAB',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
    };
    const { createPublicKey } = await import('node:crypto');
    expect(publicJwk(createPublicKey({ key: rfcKey, format: 'jwk' })).kid).toBe(
      'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
    );
  });

  it('accepts a token the auth service issued (expires_in 36000, kid of the current key)', async () => {
    const t = await login();
    expect(t.token_type).toBe('bearer');
    expect(t.expires_in).toBe(36000);
    const header = JSON.parse(Buffer.from(t.access_token.split('.')[0]!, 'base64url').toString());
    expect(header).toMatchObject({ alg: 'RS256', kid: kidOf(keyB.publicKey) });
    const payload = jwt.decode(t.access_token) as jwt.JwtPayload;
    expect((payload.exp as number) - (payload.iat as number)).toBe(36000);
    expect(payload.nbf).toBe(payload.iat);
    const r = await whoami(t.access_token);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: '1', name: 'admin', roles: ['admin'] });
    expect(
      (await request(authApp).get('/api/user').set('authorization', `Bearer ${t.access_token}`)).status,
    ).toBe(200);
  });

  it('refuses alg "none", HMAC with the public key, a wrong key, and malformed tokens (401)', async () => {
    const valid = forge(keyB.privateKey, { kid: kidOf(keyB.publicKey) });
    const [, payload] = valid.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: kidOf(keyB.publicKey) })).toString('base64url')}.${payload}.`;
    const hs256 = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: kidOf(keyB.publicKey) })).toString('base64url')}.${payload}`;
    const { createHmac } = await import('node:crypto');
    const hsToken = `${hs256}.${createHmac('sha256', keyB.publicKey).update(hs256).digest('base64url')}`;
    const wrongKey = forge(keyC.privateKey, { kid: kidOf(keyB.publicKey) });
    for (const token of [none, hsToken, wrongKey, 'not-a-jwt', `${valid}x`]) {
      const r = await whoami(token);
      expect(r.status).toBe(401);
      expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(JSON.parse(r.text)).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
  });

  it('refuses expired, not-yet-valid and exp-less tokens, and tokens of another issuer or audience (401)', async () => {
    const kid = kidOf(keyB.publicKey);
    const now = Math.floor(Date.now() / 1000);
    const expired = await whoami(forge(keyB.privateKey, { kid, claims: { exp: now - 60 } }));
    expect(expired.status).toBe(401);
    expect(JSON.parse(expired.text).detail).toMatch(/expired/);
    expect((await whoami(forge(keyB.privateKey, { kid, claims: { nbf: now + 120 } }))).status).toBe(401);
    expect((await whoami(forge(keyB.privateKey, { kid, claims: { iss: 'someone-else' } }))).status).toBe(401);
    expect((await whoami(forge(keyB.privateKey, { kid, claims: { aud: 'another-api' } }))).status).toBe(401);
    expect((await whoami(forge(keyB.privateKey, { kid, claims: { exp: undefined } }))).status).toBe(401);
    // Within the 30 s clock tolerance both ways: accepted.
    expect((await whoami(forge(keyB.privateKey, { kid, claims: { exp: now - 5 } }))).status).toBe(200);
    expect((await whoami(forge(keyB.privateKey, { kid, claims: { nbf: now + 5 } }))).status).toBe(200);
  });

  it('fetches the JWKS once more for an unknown kid, then refuses the token', async () => {
    const service2 = serviceApp();
    expect((await whoami((await login()).access_token, service2)).status).toBe(200);
    const before = jwksFetches;
    const r = await whoami(forge(keyC.privateKey, { kid: kidOf(keyC.publicKey) }), service2);
    expect(r.status).toBe(401);
    expect(jwksFetches - before).toBe(1);
    // A known kid is answered from the cache.
    expect((await whoami((await login()).access_token, service2)).status).toBe(200);
    expect(jwksFetches - before).toBe(1);
  });

  it('rotates keys without downtime: the next key signs, tokens of listed older keys keep working, a removed key stops', async () => {
    const svc = serviceApp();
    const tokenA = forge(keyA.privateKey, { kid: kidOf(keyA.publicKey) });
    const tokenB = (await login()).access_token;
    expect((await whoami(tokenA, svc)).status).toBe(200);
    expect((await whoami(tokenB, svc)).status).toBe(200);

    // D becomes the signing key; B and A stay listed. The service has B cached and meets kid D: it refetches.
    startAuth(keyD.privateKey, [keyB.publicKey, keyA.publicKey]);
    const tokenD = (await login()).access_token;
    expect(JSON.parse(Buffer.from(tokenD.split('.')[0]!, 'base64url').toString()).kid).toBe(
      kidOf(keyD.publicKey),
    );
    expect((await whoami(tokenD, svc)).status).toBe(200);
    expect((await whoami(tokenB, svc)).status).toBe(200);
    expect((await whoami(tokenA, svc)).status).toBe(200);

    // A's tokens have all expired: A leaves the JWKS. Once the cached copy of A ages out (10 minutes), it is refused.
    startAuth(keyD.privateKey, [keyB.publicKey]);
    expect((await whoami(tokenA, serviceApp())).status).toBe(401);
    const later = Date.now() + 11 * 60_000;
    jest.spyOn(Date, 'now').mockReturnValue(later);
    expect((await whoami(tokenA, svc)).status).toBe(401);
    expect((await whoami(tokenB, svc)).status).toBe(200);
    expect((await whoami(tokenD, svc)).status).toBe(200);
    jest.restoreAllMocks();
    startAuth(keyB.privateKey, [keyA.publicKey]);
  });

  it('signs ES256 with an EC P-256 key; a service accepts only the algorithm it is configured for', async () => {
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const ecAuth = createApp(deps(ec.privateKey, []));
    const jwks = (await request(ecAuth).get('/api/.well-known/jwks.json')).body as JsonWebKeySet;
    expect(jwks.keys).toEqual([
      expect.objectContaining({ kty: 'EC', crv: 'P-256', alg: 'ES256', kid: kidOf(ec.publicKey) }),
    ]);
    const t = await request(ecAuth).post('/api/login').send({ username: 'admin', password: PASSWORD });
    expect(
      JSON.parse(Buffer.from((t.body.access_token as string).split('.')[0]!, 'base64url').toString()),
    ).toMatchObject({
      alg: 'ES256',
    });
    const verifier = (algorithm: 'RS256' | 'ES256') => {
      const r = express.Router();
      r.get('/api/whoami', createAuthenticator({ jwks, algorithm }), (_req, res) => {
        res.end();
      });
      return createServiceApp({ logger: silentLogger(), readiness: {} }, r);
    };
    expect((await whoami(t.body.access_token as string, verifier('ES256'))).status).toBe(200);
    expect((await whoami(t.body.access_token as string, verifier('RS256'))).status).toBe(401);
    expect(() => createApp(deps(ec.privateKey, [keyA.publicKey]))).toThrow(
      /previous public key .* is RS256 but the signing key is ES256/,
    );
  });

  it('answers 503, not 401, while the JWKS cannot be fetched', async () => {
    const r = express.Router();
    r.get('/api/whoami', createAuthenticator({ jwksUrl: 'http://127.0.0.1:9/jwks.json' }), (_req, res) => {
      res.end();
    });
    const res = await whoami(
      forge(keyB.privateKey, { kid: kidOf(keyB.publicKey) }),
      createServiceApp({ logger: silentLogger(), readiness: {} }, r),
    );
    expect(res.status).toBe(503);
    expect(JSON.parse(res.text).code).toBe('UNAVAILABLE');
  });

  it('rotates a refresh token on use; reusing a used one revokes its whole family', async () => {
    const first = await login();
    const other = await login(); // another family (another device)
    const second = await refresh(first.refresh_token);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ token_type: 'bearer', expires_in: 36000 });
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    expect((await whoami(second.body.access_token)).status).toBe(200);
    const third = await refresh(second.body.refresh_token);
    expect(third.status).toBe(200);

    // The first token again: a reuse. Its family is revoked, the newest token with it.
    const reuse = await refresh(first.refresh_token);
    expect(reuse.status).toBe(401);
    expect(JSON.parse(reuse.text).code).toBe('UNAUTHENTICATED');
    expect((await refresh(third.body.refresh_token)).status).toBe(401);
    // The other family is untouched.
    expect((await refresh(other.refresh_token)).status).toBe(200);
    expect((await refresh('no-such-token')).status).toBe(401);
  });

  it("logout revokes every family of the caller's refresh tokens", async () => {
    const a = await login();
    const b = await login();
    const out = await request(authApp).post('/api/logout').set('authorization', `Bearer ${a.access_token}`);
    expect(out.status).toBe(204);
    expect((await refresh(a.refresh_token)).status).toBe(401);
    expect((await refresh(b.refresh_token)).status).toBe(401);
    expect((await request(authApp).post('/api/logout')).status).toBe(401);
  });
});
