import type { z } from '@im/contracts';
import { InputError, NotFoundError, type FieldError } from '@im/errors';

export type RequestPart = 'body' | 'query' | 'params' | 'headers';

/** Zod issues as `{ path, message }`, the path dotted (`runtimeConfig.macros.0.key`). */
export function toFieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  return error.issues.map((i) => {
    const p = i.path.map(String).join('.');
    return { path: prefix && p ? `${prefix}.${p}` : prefix || p, message: i.message };
  });
}

/** Validates one part of a request; throws a 400 listing every field that is wrong. */
export function parse<S extends z.ZodTypeAny>(
  schema: S,
  value: unknown,
  part: RequestPart = 'body',
): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = toFieldErrors(result.error, part === 'body' || part === 'params' ? '' : part);
  // A malformed id names no resource: the same answer as an unknown one.
  if (part === 'params')
    throw new NotFoundError(`No such resource: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}.`);
  const summary = errors
    .slice(0, 5)
    .map((e) => (e.path ? `${e.path}: ${e.message}` : e.message))
    .join('; ');
  throw new InputError(`The request ${part} is not valid: ${summary}.`, errors);
}
