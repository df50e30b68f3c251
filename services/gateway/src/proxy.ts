import { AppError, InputError, UnavailableError } from '@im/errors';
import { INTERNAL_TOKEN_HEADER } from '@im/http-kit';
import type { Logger } from '@im/logging';
import { injectTraceHeaders } from '@im/observability';
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import * as http from 'node:http';

export interface Upstream {
  /** Service name, for logs and error messages. */
  name: string;
  /** Base URL, e.g. http://127.0.0.1:8081 */
  url: string;
}

export interface ProxyOptions {
  /** Longest wait for the upstream's response headers, from when the request has been sent whole. */
  responseTimeoutMs: number;
  /** Longest silence on an open connection (uploads, followed logs). */
  idleTimeoutMs: number;
  logger: Logger;
  /** The installation's internal token, sent to the services (their ports answer nothing without it). */
  internalToken: string;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Which service owns a path. Files of a configuration belong to file-storage, the rest of
 * configurations and jobs to jobconfig, users and tokens to auth.
 */
export function ownerOf(path: string): 'file-storage' | 'jobconfig' | 'auth' | undefined {
  if (/^\/api\/jobconfigs\/[^/]+\/files(\/|$)/.test(path)) return 'file-storage';
  if (/^\/api\/(jobconfigs|jobs)(\/|$)/.test(path)) return 'jobconfig';
  if (/^\/api\/(login|logout|user|users|account|accounts)(\/|$)/.test(path)) return 'auth';
  if (path === '/api/.well-known/jwks.json') return 'auth';
  if (/^\/api\/audit(\/|$)/.test(path)) return 'auth';
  return undefined;
}

/**
 * True when a URL parser leaves the path as it is: no `.` or `..` segment (plain or as `%2e`), no
 * backslash. Otherwise the path the service gets is not the one the edge checked
 * (`/api/jobs/../../metrics` would reach the service's `/metrics`).
 */
export function isCanonicalPath(rawPath: string): boolean {
  try {
    return new URL(rawPath, 'http://gateway.invalid').pathname === rawPath;
  } catch {
    return false;
  }
}

/**
 * Refuses (400) an `/api` path that is not canonical, before the edge check and before anything is
 * forwarded: the path a service would get must be the one the gateway checked.
 */
export const canonicalPaths: RequestHandler = (req, _res, next) => {
  if (isCanonicalPath(req.originalUrl.split('?')[0] ?? '')) return next();
  next(new InputError('The path holds "." or ".." segments or backslashes; send it in canonical form.'));
};

/**
 * Streams a request to the service that owns its path and the answer back, bytes untouched. Only
 * `/api/...` paths a service owns are forwarded (in canonical form: {@link canonicalPaths} runs
 * first), never a service's own endpoints (`/metrics`, `/readyz`); the gateway adds the internal
 * token, replacing any the client sent.
 */
export function proxyRouter(
  upstreams: Record<'file-storage' | 'jobconfig' | 'auth', Upstream>,
  options: ProxyOptions,
): Router {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const r = express.Router();
  r.use((req: Request, res: Response, next: NextFunction) => {
    const owner = ownerOf(req.path);
    if (!owner) return next();
    const upstream = upstreams[owner];
    const target = new URL(req.originalUrl, upstream.url);
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers))
      if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    headers['x-request-id'] = req.requestId;
    headers[INTERNAL_TOKEN_HEADER] = options.internalToken;
    // The service continues the gateway's span, not the one the client may have sent.
    delete headers.traceparent;
    delete headers.tracestate;
    injectTraceHeaders(headers);
    req.routeLabel = `proxy:${owner}`;
    // The last entry is the client as this gateway determined it (its trust-proxy setting), which is
    // what the services read with `trust proxy: 1` (the auth service throttles logins per client).
    headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.ip ?? req.socket.remoteAddress]
      .filter(Boolean)
      .join(', ');
    headers['x-forwarded-proto'] = req.protocol;
    let answered = false;
    const fail = (err: AppError) => {
      if (answered) return;
      answered = true;
      if (res.headersSent) res.destroy();
      else next(err);
    };
    const out = http.request(
      target,
      { method: req.method, headers, agent, timeout: options.idleTimeoutMs },
      (upstreamRes) => {
        clearTimeout(headerTimer);
        answered = true;
        for (const [k, v] of Object.entries(upstreamRes.headers))
          if (!HOP_BY_HOP.has(k) && v !== undefined) res.setHeader(k, v);
        res.status(upstreamRes.statusCode ?? 502);
        upstreamRes.pipe(res);
        upstreamRes.on('error', () => res.destroy());
      },
    );
    // The answer is awaited from when the request has been sent whole: an upload may take longer
    // than the response timeout (a stalled one is cut by the idle timeout instead).
    let headerTimer: NodeJS.Timeout | undefined;
    out.on('finish', () => {
      if (answered) return;
      headerTimer = setTimeout(() => {
        out.destroy();
        fail(
          new AppError(
            'UNAVAILABLE',
            `The ${upstream.name} service did not answer within ${options.responseTimeoutMs} ms; try again shortly.`,
          ),
        );
      }, options.responseTimeoutMs);
    });
    out.on('timeout', () => out.destroy(new Error('idle timeout')));
    out.on('error', (err) => {
      clearTimeout(headerTimer);
      options.logger.warn(
        { err, upstream: upstream.name, requestId: req.requestId },
        'upstream request failed',
      );
      fail(new UnavailableError(`The ${upstream.name} service is unavailable; try again shortly.`, err));
    });
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  });
  return r;
}
