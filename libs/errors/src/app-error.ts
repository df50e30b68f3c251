import { errorCatalog, type ErrorCode } from './error-codes';

/** A field-level problem, with a dotted path into the request (e.g. `runtimeConfig.entryPoint`). */
export interface FieldError {
  path: string;
  message: string;
}

/**
 * The base of every error a service raises on purpose. Transport-agnostic: the HTTP layer maps it to
 * problem+json through the catalog; a Kafka consumer maps it to a log line or a dead letter.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly errors: FieldError[] | undefined;

  constructor(code: ErrorCode, detail: string, options?: { errors?: FieldError[]; cause?: unknown }) {
    super(detail, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = errorCatalog[code].status;
    this.title = errorCatalog[code].title;
    this.errors = options?.errors;
  }
}

export class InputError extends AppError {
  constructor(detail: string, errors?: FieldError[], code: ErrorCode = 'VALIDATION_FAILED') {
    super(code, detail, errors ? { errors } : undefined);
  }
}

export class NotFoundError extends AppError {
  constructor(detail: string) {
    super('NOT_FOUND', detail);
  }
}

export class UnauthenticatedError extends AppError {
  constructor(
    detail = 'Send a valid access token as "Authorization: Bearer <token>"; get one from POST /api/login.',
    code: ErrorCode = 'UNAUTHENTICATED',
  ) {
    super(code, detail);
  }
}

export class ForbiddenError extends AppError {
  constructor(detail: string) {
    super('FORBIDDEN', detail);
  }
}

export class ConflictError extends AppError {
  constructor(detail: string, code: ErrorCode = 'CONFLICT') {
    super(code, detail);
  }
}

export class UnavailableError extends AppError {
  constructor(detail: string, cause?: unknown) {
    super('UNAVAILABLE', detail, { cause });
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
