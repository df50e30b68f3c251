import type { z } from '@im/contracts';
import { InputError, type FieldError } from '@im/errors';

export type RequestPart = 'body' | 'query' | 'params' | 'headers';

/** Zod issues as `{ path, message }`, the path dotted (`runtimeConfig.macros.0.key`). */
export function toFieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  return error.issues.map((i) => {
    const p = i.path.map(String).join('.');
    return { path: prefix && p ? `${prefix}.${p}` : prefix || p, message: i.message };
  });
}

/** Validates one part of a request; throws a 400 listing every field that is wrong. */
export function parse<S extends z.ZodTypeAny>(schema: S, value: unknown, part: RequestPart = 'body'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data as z.infer<S>;
  const errors = toFieldErrors(result.error, part === 'body' ? '' : part === 'params' ? '' : part);
  const summary = errors
    .slice(0, 5)
    .map((e) => (e.path ? `${e.path}: ${e.message}` : e.message))
    .join('; ');
  const where = part === 'params' ? 'path' : part;
  throw new InputError(`The request ${where} is not valid: ${summary}.`, errors);
}
