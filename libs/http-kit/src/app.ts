import type { Logger } from '@im/logging';
import express, { type Express, type Request, type RequestHandler, type Router } from 'express';
import { randomUUID } from 'node:crypto';
import { notFoundHandler, problemHandler } from './problem';
import './request-context';
import { requestScope } from './request-scope';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes the caller's `X-Request-Id` when it is sane, else makes one; echoes it on the response. */
export const requestId: RequestHandler = (req, res, next) => {
  const given = req.get('x-request-id');
  req.requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', req.requestId);
  requestScope.run({ requestId: req.requestId }, next);
};

/** One access-log line per request, at the end, with the request id. */
export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const level = res.statusCode >= 500 ? 'error' : 'info';
      logger[level](
        {
          requestId: req.requestId,
          method: req.method,
          url: req.originalUrl.split('?')[0],
          status: res.statusCode,
          ms: Math.round(ms * 10) / 10,
          user: req.principal?.id,
        },
        'request',
      );
    });
    next();
  };
}

export interface Readiness {
  /** True when the service can take traffic: dependencies up and not draining. */
  ready(): Promise<boolean> | boolean;
}

export function healthRoutes(readiness: Readiness): Router {
  const r = express.Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    let ok = false;
    try {
      ok = await readiness.ready();
    } catch {
      ok = false;
    }
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not-ready' });
  });
  return r;
}

export interface ServiceAppOptions {
  logger: Logger;
  readiness: Readiness;
  /** Trust X-Forwarded-* from this many proxy hops (the gateway, an ingress). */
  trustProxy?: boolean | number | string;
}

/**
 * The frame every service's express app shares: request ids, access log, health endpoints, the
 * service's routers, then a problem+json 404 and the one error handler.
 */
export function createServiceApp(options: ServiceAppOptions, ...routers: Router[]): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy ?? false);
  app.set('query parser', 'simple');
  app.use(requestId);
  app.use(accessLog(options.logger));
  app.use(healthRoutes(options.readiness));
  for (const r of routers) app.use(r);
  app.use(notFoundHandler);
  app.use(problemHandler(options.logger));
  return app;
}

export function firstQueryValue(req: Request, name: string): string | undefined {
  const v = req.query[name];
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
}
