import { UnauthenticatedError } from '@im/errors';
import type { Request, RequestHandler } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The header that carries the installation's internal token between the platform's own processes
 * (the gateway to a service, a service to another). Not `Authorization`: that one carries the
 * caller's access token on the same requests.
 */
export const INTERNAL_TOKEN_HEADER = 'x-internal-token';

/** Paths every process answers without a credential: liveness and readiness (for kubelets, load balancers). */
export const OPEN_PATHS: readonly string[] = ['/healthz', '/readyz'];

/**
 * Compares a presented credential with the expected one in constant time: both are hashed first, so
 * neither the content nor the length of the expected value leaks through the comparison's timing.
 */
export function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined || expected === '') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The bearer credential of `Authorization: Bearer <value>`; undefined without one. */
export function bearerOf(req: Request): string | undefined {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
  return m?.[1];
}

/**
 * Lets a request through only when it carries the installation's internal token in
 * {@link INTERNAL_TOKEN_HEADER} (set by the gateway and by the services' calls to each other), except
 * on {@link OPEN_PATHS} and `/metrics` (guarded by its own token). Everything else answers 401
 * problem+json, unknown paths included, so nothing about a service's routes is learnt without it.
 */
export function requireInternalToken(token: string): RequestHandler {
  if (!token) throw new Error('requireInternalToken: the internal token is empty');
  return (req, _res, next) => {
    if (OPEN_PATHS.includes(req.path) || req.path === '/metrics') return next();
    if (sameSecret(req.get(INTERNAL_TOKEN_HEADER), token)) return next();
    next(
      new UnauthenticatedError(
        `This port serves the platform's own processes only: call the API through the gateway (it sends the ${INTERNAL_TOKEN_HEADER} header).`,
      ),
    );
  };
}

/**
 * Lets a request through only with `Authorization: Bearer <token>` (Prometheus' `authorization`
 * scrape setting). No token configured: nobody gets through (secure by default), and the answer says
 * how to turn it on.
 */
export function requireBearerToken(
  token: string | undefined,
  what: string,
  howToEnable: string,
): RequestHandler {
  return (req, _res, next) => {
    if (token && sameSecret(bearerOf(req), token)) return next();
    next(
      new UnauthenticatedError(
        token
          ? `${what} needs its token: send "Authorization: Bearer <token>".`
          : `${what} is off: ${howToEnable}.`,
      ),
    );
  };
}
