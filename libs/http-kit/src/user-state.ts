import type { Principal, Role } from '@im/contracts';
import { UnauthenticatedError } from '@im/errors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** What a service knows of a user now (auth's table, or a projection of `user.changes`). */
export interface UserState {
  active: boolean;
  roles: readonly string[];
  accountId: string;
}

/** Where a service reads a user's current state; undefined: it has not heard of the user yet. */
export type UserStateLookup = (userId: string) => Promise<UserState | undefined>;

const DEACTIVATED =
  'This user has been deactivated; ask an administrator of your account to activate it again.';

/**
 * The caller as the service's current knowledge of the user allows: the token's roles narrowed to the
 * roles the user holds now (a demotion takes effect at once; a promotion needs a new token, so a token
 * never gives more than it was issued with), or 401 when the user is deactivated or in another account
 * than the token says. A user the service has not heard of keeps the token's roles: they are the
 * ceiling, never more.
 */
export function currentPrincipal(p: Principal, state: UserState | undefined): Principal {
  if (!state) return p;
  if (!state.active) throw new UnauthenticatedError(DEACTIVATED);
  if (state.accountId !== p.accountId)
    throw new UnauthenticatedError('This access token no longer matches its user; log in again.');
  const roles = p.roles.filter((r: Role) => state.roles.includes(r));
  return roles.length === p.roles.length ? p : { ...p, roles };
}

/**
 * Wraps an authenticator so that a valid token is judged by what the service knows of its user now,
 * not by the claims it was issued with: a deactivated user's token is refused (401) and a demoted
 * user's token loses the roles taken away, as soon as the service learns of the change (auth reads its
 * own table on every request; the others keep a projection of `user.changes`, so no call to the auth
 * service while a user waits).
 */
export function applyUserState(authenticate: RequestHandler, lookup: UserStateLookup): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const after = (err?: unknown) => {
      if (err) return next(err);
      const p = req.principal;
      if (!p) return next();
      lookup(p.id).then((state) => {
        try {
          req.principal = currentPrincipal(p, state);
        } catch (e) {
          return next(e);
        }
        next();
      }, next);
    };
    return authenticate(req, res, after);
  };
}
