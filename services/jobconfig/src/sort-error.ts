import { UnknownSortFieldError } from '@im/db';
import { InputError } from '@im/errors';

/** Runs a paged query, turning an unknown sort field into a 400 that lists the allowed ones. */
export async function sortError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UnknownSortFieldError)
      throw new InputError(err.message, [{ path: 'sortby', message: `one of ${err.allowed.join(', ')}` }]);
    throw err;
  }
}
