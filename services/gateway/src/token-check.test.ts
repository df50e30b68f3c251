import { createAuthenticator, JWT_AUDIENCE, JWT_ISSUER, jwksOf, publicJwk } from '@im/http-kit';
import { silentLogger } from '@im/logging';
import jwt from 'jsonwebtoken';
import { generateKeyPairSync } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createApp } from './app';
import { proxyRouter } from './proxy';

const INTERNAL_TOKEN = 'internal-token-of-the-gateway-tests-0123456789';

const pair = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });

/**
 * The gateway checks tokens as every service does (http-kit's authenticator against the auth service's
 * JWKS URL) and routes the JWKS itself to auth, publicly.
 */
describe('the gateway checks tokens against the auth service JWKS', () => {
  const key = pair();
  const stranger = pair();
  const kid = publicJwk(key.publicKey).kid;
  const jwks = jwksOf([key.publicKey]);
  let upstream: http.Server;
  let url: string;

  beforeAll(async () => {
    // Stands in for auth (the JWKS) and jobconfig (answers 200 to anything).
    upstream = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.url === '/api/.well-known/jwks.json' ? jwks : { ok: true }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => upstream.close(r));
  });

  const gateway = () =>
    createApp({
      logger: silentLogger(),
      info: { name: 'im', version: '0', buildDate: new Date(0).toISOString() },
      readiness: {},
      authenticate: createAuthenticator({ jwksUrl: `${url}/api/.well-known/jwks.json` }),
      upstreams: [
        proxyRouter(
          {
            auth: { name: 'auth', url },
            jobconfig: { name: 'jobconfig', url },
            'file-storage': { name: 'file-storage', url },
          },
          {
            responseTimeoutMs: 5000,
            idleTimeoutMs: 5000,
            logger: silentLogger(),
            internalToken: INTERNAL_TOKEN,
          },
        ),
      ],
    });
  const sign = (k: string, claims: Record<string, unknown> = {}, keyid = kid) => {
    const now = Math.floor(Date.now() / 1000);
    return jwt.sign(
      {
        name: 'admin',
        roles: ['admin'],
        acc: '1',
        sub: '1',
        iss: JWT_ISSUER,
        aud: JWT_AUDIENCE,
        exp: now + 600,
        ...claims,
      },
      k,
      { algorithm: 'RS256', keyid },
    );
  };

  it('serves the JWKS through the gateway without a token', async () => {
    const r = await request(gateway()).get('/api/.well-known/jwks.json');
    expect(r.status).toBe(200);
    expect(r.body).toEqual(JSON.parse(JSON.stringify(jwks)));
  });

  it('passes a valid token and refuses forged, expired and foreign ones at the edge', async () => {
    const app = gateway();
    const call = (token: string) =>
      request(app).get('/api/jobconfigs').set('authorization', `Bearer ${token}`);
    expect((await call(sign(key.privateKey))).status).toBe(200);
    const [, payload] = sign(key.privateKey).split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid })).toString('base64url')}.${payload}.`;
    const refused = [
      none,
      sign(stranger.privateKey),
      sign(stranger.privateKey, {}, publicJwk(stranger.publicKey).kid),
      sign(key.privateKey, { exp: Math.floor(Date.now() / 1000) - 120 }),
      sign(key.privateKey, { iss: 'elsewhere' }),
    ];
    for (const t of refused) {
      expect((await call(t)).status).toBe(401);
    }
    expect((await request(app).get('/api/jobconfigs')).status).toBe(401);
  });
});
