import {
  AppError,
  ConflictError,
  ForbiddenError,
  InputError,
  isAppError,
  NotFoundError,
  UnauthenticatedError,
  UnavailableError,
} from './app-error';
import { errorCatalog, type ErrorCode } from './error-codes';

describe('error classes', () => {
  it('InputError is a 400 VALIDATION_FAILED carrying the field errors', () => {
    const fieldErrors = [
      { path: 'runtimeConfig.entryPoint', message: 'is required' },
      { path: 'name', message: 'must not be empty' },
    ];
    const err = new InputError('The configuration is not valid.', fieldErrors);
    expect(err).toMatchObject({
      name: 'InputError',
      code: 'VALIDATION_FAILED',
      status: 400,
      title: 'The request is not valid',
      message: 'The configuration is not valid.',
      errors: fieldErrors,
    });
    expect(err).toBeInstanceOf(AppError);
    expect(err).toBeInstanceOf(Error);
  });

  it('InputError without field errors has none, and takes a more specific 4xx code', () => {
    expect(new InputError('bad').errors).toBeUndefined();
    const err = new InputError('not JSON', undefined, 'MALFORMED_JSON');
    expect(err).toMatchObject({ code: 'MALFORMED_JSON', status: 400, errors: undefined });
  });

  it('NotFoundError is a 404 NOT_FOUND', () => {
    const err = new NotFoundError('No job configuration 42.');
    expect(err).toMatchObject({
      name: 'NotFoundError',
      code: 'NOT_FOUND',
      status: 404,
      title: 'Not found',
      message: 'No job configuration 42.',
    });
  });

  it('UnauthenticatedError is a 401 that tells the client how to authenticate', () => {
    const err = new UnauthenticatedError();
    expect(err).toMatchObject({ name: 'UnauthenticatedError', code: 'UNAUTHENTICATED', status: 401 });
    expect(err.message).toMatch(/Authorization: Bearer <token>/);
    expect(new UnauthenticatedError('wrong password', 'BAD_CREDENTIALS')).toMatchObject({
      code: 'BAD_CREDENTIALS',
      status: 401,
      title: 'Bad credentials',
      message: 'wrong password',
    });
  });

  it('ForbiddenError is a 403 FORBIDDEN', () => {
    expect(new ForbiddenError('Admins only.')).toMatchObject({
      name: 'ForbiddenError',
      code: 'FORBIDDEN',
      status: 403,
      message: 'Admins only.',
    });
  });

  it('ConflictError is a 409 CONFLICT, or a 409 with a more specific code', () => {
    expect(new ConflictError('Changed meanwhile.')).toMatchObject({
      name: 'ConflictError',
      code: 'CONFLICT',
      status: 409,
      title: 'Conflict',
    });
    expect(new ConflictError('"ada" is taken.', 'USERNAME_TAKEN')).toMatchObject({
      name: 'ConflictError',
      code: 'USERNAME_TAKEN',
      status: 409,
      title: 'The user name is taken',
      message: '"ada" is taken.',
    });
  });

  it('UnavailableError is a 503 that keeps its cause', () => {
    const cause = new Error('ECONNREFUSED');
    const err = new UnavailableError('Kafka is down.', cause);
    expect(err).toMatchObject({ name: 'UnavailableError', code: 'UNAVAILABLE', status: 503 });
    expect(err.cause).toBe(cause);
    expect(new NotFoundError('x').cause).toBeUndefined();
  });

  it('has a stack trace that names the error class', () => {
    expect(new ForbiddenError('no').stack).toMatch(/^ForbiddenError: no/);
  });
});

describe('isAppError', () => {
  it('recognises every AppError subclass', () => {
    for (const err of [
      new InputError('x'),
      new NotFoundError('x'),
      new UnauthenticatedError(),
      new ForbiddenError('x'),
      new ConflictError('x'),
      new UnavailableError('x'),
      new AppError('INTERNAL', 'x'),
    ])
      expect(isAppError(err)).toBe(true);
  });

  it('refuses plain errors and look-alike objects', () => {
    expect(isAppError(new Error('x'))).toBe(false);
    expect(isAppError({ code: 'NOT_FOUND', status: 404, message: 'x' })).toBe(false);
    expect(isAppError(undefined)).toBe(false);
    expect(isAppError('NOT_FOUND')).toBe(false);
  });
});

describe('errorCatalog', () => {
  const entries = Object.entries(errorCatalog) as [ErrorCode, { status: number; title: string }][];

  it.each(entries)('%s has a 4xx/5xx status and a title', (_code, entry) => {
    expect(Number.isInteger(entry.status)).toBe(true);
    expect(entry.status).toBeGreaterThanOrEqual(400);
    expect(entry.status).toBeLessThan(600);
    expect(entry.title.trim()).not.toBe('');
  });

  it('uses UPPER_SNAKE_CASE codes', () => {
    for (const [code] of entries) expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
  });

  it('maps every code to the status and title an AppError reports', () => {
    for (const [code, entry] of entries) {
      const err = new AppError(code, 'detail');
      expect({ code: err.code, status: err.status, title: err.title }).toEqual({ code, ...entry });
    }
  });
});
