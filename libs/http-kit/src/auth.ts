import { Role, type Principal } from '@im/contracts';
import { ForbiddenError, UnauthenticatedError } from '@im/errors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createPublicKey } from 'node:crypto';
import passport from 'passport';
import { ExtractJwt, Strategy as JwtStrategy, type VerifiedCallback } from 'passport-jwt';
import './request-context';

export const JWT_ISSUER = 'integration-manager';
export const JWT_AUDIENCE = 'integration-manager-api';

export interface AccessTokenClaims {
  sub: string;
  name: string;
  roles: string[];
  /** The user's account (tenant). */
  acc: string;
}

/**
 * Verifies the bearer token (RS256, issuer and audience checked) with passport-jwt. Every service
 * holds only the public key; only the auth service can sign.
 */
export function createAuthenticator(publicKeyPem: string): RequestHandler {
  // Parsed once: jsonwebtoken parses a PEM string again on every verification (~0.1 ms of CPU per
  // request, a quarter of the gateway's work per call), a KeyObject not at all.
  const publicKey = createPublicKey(publicKeyPem);
  const instance = new passport.Passport();
  instance.use(
    'jwt',
    new JwtStrategy(
      {
        jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
        // passport-jwt hands the key to jsonwebtoken, which takes a KeyObject; its types say string | Buffer.
        secretOrKey: publicKey as unknown as string,
        algorithms: ['RS256'],
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        passReqToCallback: true,
      },
      (req: Request, claims: AccessTokenClaims, done: VerifiedCallback) => {
        const roles = Array.isArray(claims.roles)
          ? claims.roles.filter((r) => Role.safeParse(r).success)
          : [];
        // A token without an account (issued before accounts existed) is refused: log in again.
        if (typeof claims.sub !== 'string' || typeof claims.name !== 'string' || typeof claims.acc !== 'string')
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
