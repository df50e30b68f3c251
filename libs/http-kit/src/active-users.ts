import { UnauthenticatedError } from '@im/errors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Wraps an authenticator so that a valid token of a deactivated user is refused (401) as soon as the
 * service learns of the deactivation, not only when the token expires. `isInactive` answers from the
 * service's own projection of `user.changes` (no call to the auth service while a user waits).
 */
export function refuseInactiveUsers(
  authenticate: RequestHandler,
  isInactive: (userId: string) => Promise<boolean>,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const after = (err?: unknown) => {
      if (err) return next(err);
      const p = req.principal;
      if (!p) return next();
      isInactive(p.id).then(
        (inactive) =>
          inactive
            ? next(
                new UnauthenticatedError(
                  'This user has been deactivated; ask an administrator of your account to activate it again.',
                ),
              )
            : next(),
        next,
      );
    };
    return authenticate(req, res, after);
  };
}
