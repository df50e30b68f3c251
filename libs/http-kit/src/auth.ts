import { Role, type Principal } from '@im/contracts';
import { ForbiddenError, UnauthenticatedError, UnavailableError } from '@im/errors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { passportJwtSecret } from 'jwks-rsa';
import passport from 'passport';
import { ExtractJwt, Strategy as JwtStrategy, type VerifiedCallback } from 'passport-jwt';
import { jwksOf, type JsonWebKeySet, type JwtAlgorithm } from './jwks';
import './request-context';

export const JWT_ISSUER = 'integration-manager';
export const JWT_AUDIENCE = 'integration-manager-api';

export interface AccessTokenClaims {
  sub: string;
  name: string;
  roles: string[];
  /** Expiry, seconds since the epoch: required. */
  exp?: number;
  /** The user's account (tenant). */
  acc: string;
}

/** Where the verification keys come from. */
export type TokenKeySource =
  /**
   * The auth service's JWKS over HTTP (one process per service): `AUTH_JWKS_URL`, fetched with
   * `jwksHeaders` (the internal token: the auth service's port answers nothing without it).
   */
  | { jwksUrl: string; jwksHeaders?: Record<string, string> }
  /** A key set in this process (standalone, the auth service itself, tests). */
  | { jwks: JsonWebKeySet | (() => JsonWebKeySet) }
  /** Public-key PEMs, turned into an in-process key set (`AUTH_JWT_PUBLIC_KEY`). */
  | { publicKeys: string[] };

export type TokenVerification = TokenKeySource & {
  /** The one algorithm accepted (default: RS256; in-process key sets: the algorithm of their keys). */
  algorithm?: JwtAlgorithm;
  /** Leeway on `exp` and `nbf` for clocks that drift apart, seconds (default 30). */
  clockToleranceSeconds?: number;
  /** How long a fetched key stays cached, ms (default 10 minutes). */
  cacheMaxAgeMs?: number;
  /** JWKS fetches per minute at most (cache misses: unknown kids); default 10. */
  jwksRequestsPerMinute?: number;
};

/** Leeway on `exp` and `nbf` unless configured: clocks of separate hosts drift by seconds, not minutes. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;

/**
 * Verifies the bearer token with passport-jwt: the key is looked up by the token's `kid` in the auth
 * service's JWKS (jwks-rsa: cached per kid, an unknown kid fetches the set once more, rate limited),
 * only the configured asymmetric algorithm is accepted (never `none`, never HMAC), issuer, audience,
 * `exp` (required) and `nbf` are checked with a small clock tolerance. Every service holds only public
 * keys; only the auth service can sign. A PEM string is accepted as a one-key in-process set.
 */
export function createAuthenticator(source: TokenVerification | string): RequestHandler {
  const v: TokenVerification = typeof source === 'string' ? { publicKeys: [source] } : source;
  const inProcess =
    'jwksUrl' in v
      ? undefined
      : 'jwks' in v
        ? typeof v.jwks === 'function'
          ? v.jwks
          : () => v.jwks as JsonWebKeySet
        : (() => {
            const set = jwksOf(v.publicKeys);
            return () => set;
          })();
  const algorithm: JwtAlgorithm =
    v.algorithm ?? (inProcess ? (inProcess().keys[0]?.alg ?? 'RS256') : 'RS256');
  const provideKey = passportJwtSecret({
    jwksUri: 'jwksUrl' in v ? v.jwksUrl : 'in-process:jwks',
    ...('jwksUrl' in v && v.jwksHeaders ? { requestHeaders: v.jwksHeaders } : {}),
    ...(inProcess ? { fetcher: () => Promise.resolve(inProcess()) } : {}),
    cache: true,
    cacheMaxEntries: 16,
    cacheMaxAge: v.cacheMaxAgeMs ?? 10 * 60_000,
    rateLimit: true,
    jwksRequestsPerMinute: v.jwksRequestsPerMinute ?? 10,
    timeout: 5000,
    handleSigningKeyError: (err, cb) =>
      // An unknown kid, or too many of them: no key, so the token is refused (401). Anything else is
      // the key set being unreachable or broken: passed on and answered 503 below.
      cb(
        !err || err.name === 'SigningKeyNotFoundError' || err.name === 'JwksRateLimitError'
          ? null
          : Object.assign(err, { isEndpointUnavailable: true }),
      ),
  });
  // jsonwebtoken parses a PEM string again on every verification (~0.1 ms of CPU per request, a
  // quarter of the gateway's work per call), a KeyObject not at all: keep one per PEM.
  const keyObjects = new Map<string, KeyObject>();
  const secretOrKeyProvider = (
    req: Request,
    rawJwt: string,
    done: (err: unknown, key?: string | Buffer) => void,
  ) =>
    provideKey(req, rawJwt, (err, pem) => {
      if (err || !pem) return done(err ?? new Error('no key for this token'));
      const pemText = typeof pem === 'string' ? pem : pem.toString();
      let key = keyObjects.get(pemText);
      if (!key) {
        key = createPublicKey(pemText);
        if (keyObjects.size >= 16) keyObjects.clear();
        keyObjects.set(pemText, key);
      }
      // passport-jwt hands the key to jsonwebtoken, which takes a KeyObject; its types say string | Buffer.
      done(null, key as unknown as string);
    });
  const instance = new passport.Passport();
  instance.use(
    'jwt',
    new JwtStrategy(
      {
        jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
        secretOrKeyProvider,
        algorithms: [algorithm],
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        jsonWebTokenOptions: {
          clockTolerance: v.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
        },
        passReqToCallback: true,
      },
      (req: Request, claims: AccessTokenClaims, done: VerifiedCallback) => {
        // jsonwebtoken checks `exp` only when present: a token that never expires is refused.
        if (typeof claims.exp !== 'number') return done(null, false);
        const roles = Array.isArray(claims.roles)
          ? claims.roles.filter((r) => Role.safeParse(r).success)
          : [];
        // A token without an account (issued before accounts existed) is refused: log in again.
        if (
          typeof claims.sub !== 'string' ||
          typeof claims.name !== 'string' ||
          typeof claims.acc !== 'string'
        )
          return done(null, false);
        const principal: Principal = {
          id: claims.sub,
          name: claims.name,
          roles: roles as Principal['roles'],
          accountId: claims.acc,
        };
        // Kept for calls made on the caller's behalf; never logged (see REDACT_PATHS).
        const token = ExtractJwt.fromAuthHeaderAsBearerToken()(req);
        if (token) principal.token = token;
        done(null, principal);
      },
    ),
  );
  return (req: Request, res: Response, next: NextFunction) => {
    // Verified already by an earlier hop in this process (the gateway's edge check in standalone mode).
    if (req.principal) return next();
    const handler = instance.authenticate(
      'jwt',
      { session: false },
      (err: unknown, principal: Principal | false, info: unknown) => {
        if (err) return next(err);
        if (!principal) {
          if ((info as { isEndpointUnavailable?: boolean } | undefined)?.isEndpointUnavailable)
            return next(
              new UnavailableError(
                "The access token cannot be checked now: the auth service's key set is unreachable; try again shortly.",
              ),
            );
          const message = info instanceof Error ? info.message : '';
          const hasHeader = typeof req.headers.authorization === 'string';
          const detail = !hasHeader
            ? 'This call needs an access token: send "Authorization: Bearer <token>"; get one from POST /api/login.'
            : /expired/i.test(message)
              ? 'The access token has expired; get a new one from POST /api/login/refresh or POST /api/login.'
              : 'The access token is not valid; get a new one from POST /api/login.';
          return next(new UnauthenticatedError(detail));
        }
        req.principal = principal;
        next();
      },
    ) as RequestHandler;
    return handler(req, res, next);
  };
}

export function principalOf(req: Request): Principal {
  if (!req.principal) throw new UnauthenticatedError();
  return req.principal;
}

export function isAdmin(p: Principal): boolean {
  return p.roles.includes('admin');
}

export const requireAdmin: RequestHandler = (req, _res, next) => {
  if (!isAdmin(principalOf(req))) throw new ForbiddenError('Only administrators may do this.');
  next();
};
