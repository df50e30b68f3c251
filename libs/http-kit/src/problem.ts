import type { Problem } from '@im/contracts';
import { AppError, errorCatalog, NotFoundError } from '@im/errors';
import type { Logger } from '@im/logging';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

function typeUri(code: string): string {
  return `https://integration-manager.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`;
}

export function toProblem(err: AppError, req: Request): Problem {
  return {
    type: typeUri(err.code),
    title: err.title,
    status: err.status,
    detail: err.message,
    instance: req.originalUrl.split('?')[0] ?? req.originalUrl,
    code: err.code,
    ...(err.errors ? { errors: err.errors } : {}),
    ...(req.requestId ? { requestId: req.requestId } : {}),
  };
}

/** Body-parser and framework errors that carry an HTTP status are client errors, never 5xx. */
function fromFrameworkError(err: unknown): AppError | undefined {
  const e = err as { status?: number; statusCode?: number; type?: string; message?: string };
  const status = e.status ?? e.statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  if (status === 413) return new AppError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
  if (status === 404) return new NotFoundError('No such resource.');
  return new AppError('VALIDATION_FAILED', e.message ?? 'The request is not valid.');
}

/** The one error middleware: every error leaves as problem+json; 5xx logged as errors, 4xx at debug. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      logger.warn({ err, requestId: req.requestId }, 'error after the response started; closing it');
      res.destroy();
      return;
    }
    void next;
    if (req.destroyed && !(err instanceof AppError)) {
      // The client went away mid-request (an upload cut off): nobody to answer, nothing of ours broke.
      logger.info(
        {
          requestId: req.requestId,
          method: req.method,
          url: req.originalUrl,
          code: (err as { code?: unknown }).code,
        },
        'the client closed the connection before the request was complete',
      );
      res.destroy();
      return;
    }
    let appErr = err instanceof AppError ? err : fromFrameworkError(err);
    if (!appErr) {
      logger.error(
        { err, requestId: req.requestId, method: req.method, url: req.originalUrl },
        'unhandled error',
      );
      appErr = new AppError(
        'INTERNAL',
        `Something went wrong on our side. Try again; if it persists, report request id ${req.requestId ?? 'unknown'}.`,
      );
    } else if (appErr.status >= 500) {
      logger.error({ err, requestId: req.requestId }, appErr.message);
    } else {
      logger.debug({ code: appErr.code, requestId: req.requestId }, appErr.message);
    }
    if (appErr.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    res
      .status(appErr.status)
      .type(PROBLEM_CONTENT_TYPE)
      .send(JSON.stringify(toProblem(appErr, req)));
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new NotFoundError(`No route ${req.method} ${req.path}. See /api/docs for the API.`));
};

export { errorCatalog };
