import {
  CONTENT_TYPE,
  SpanKind,
  SpanStatusCode,
  context,
  extractContext,
  httpDurationHistogram,
  metricsText,
  trace,
  tracer,
} from '@im/observability';
import express, { type Request, type RequestHandler, type Router } from 'express';
import { requireBearerToken } from './internal-auth';

declare module 'express-serve-static-core' {
  interface Request {
    /**
     * The route label of metrics and spans when no express route matched (the gateway's proxy sets
     * `proxy:<service>`).
     */
    routeLabel?: string;
  }
}

/** The express route pattern that served the request (`/api/jobs/:id`), never the raw URL. */
export function routeOf(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  if (typeof route?.path === 'string') return `${req.baseUrl}${route.path}`;
  if (route?.path instanceof RegExp) return `${req.baseUrl}${route.path.source}`;
  return req.routeLabel ?? 'unmatched';
}

/**
 * One span and one histogram observation per request. The span continues the caller's trace when
 * the request carries `traceparent` (the gateway, another service), else starts one; the rest of
 * the request runs in its context, so log lines, outgoing calls and published records carry it.
 */
export function telemetry(): RequestHandler {
  const duration = httpDurationHistogram();
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const parent = extractContext(req.headers);
    const span = tracer().startSpan(`${req.method}`, { kind: SpanKind.SERVER }, parent);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = routeOf(req);
      duration.observe({ method: req.method, route, status: res.statusCode }, seconds);
      if (span.isRecording()) {
        span.updateName(`${req.method} ${route}`);
        span.setAttributes({
          'http.request.method': req.method,
          'http.route': route,
          'url.path': req.path,
          'http.response.status_code': res.statusCode,
          ...(req.requestId ? { 'request.id': req.requestId } : {}),
        });
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    });
    res.on('close', () => {
      if (!res.writableFinished && span.isRecording()) {
        span.setAttribute('http.aborted', true);
        span.end();
      }
    });
    context.with(trace.setSpan(parent, span), next);
  };
}

/**
 * `GET /metrics`: the process's metrics in the Prometheus text format, on each service's own port,
 * outside `/api`, to a caller with `Authorization: Bearer <METRICS_TOKEN>` only (Prometheus'
 * `authorization` scrape setting); without a token configured, to nobody.
 */
export function metricsRoute(token: string | undefined): Router {
  const r = express.Router();
  const guard = requireBearerToken(
    token,
    '/metrics',
    'set METRICS_TOKEN (or METRICS_TOKEN_FILE) to serve it',
  );
  r.get('/metrics', guard, async (_req, res) => {
    res
      .set('Content-Type', CONTENT_TYPE)
      .set('Cache-Control', 'no-store')
      .send(await metricsText());
  });
  return r;
}
