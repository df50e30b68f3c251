import type { TrustProxy } from './trust-proxy';
import type { Logger } from '@im/logging';
import express, { type Express, type Request, type RequestHandler, type Router } from 'express';
import { randomUUID } from 'node:crypto';
import { notFoundHandler, problemHandler } from './problem';
import './request-context';
import { bearerOf, INTERNAL_TOKEN_HEADER, requireInternalToken, sameSecret } from './internal-auth';
import { requestScope } from './request-scope';
import { metricsRoute, telemetry } from './telemetry';

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

/** What a dependency check reports: up or down, how long it took, and why it is down. */
export interface CheckResult {
  status: 'up' | 'down';
  ms: number;
  /** A short reason, never a secret (connection strings are masked). */
  error?: string;
}

export interface ReadinessReport {
  status: 'ready' | 'not-ready';
  checks: Record<string, CheckResult>;
}

/** A dependency check: resolves when the dependency answers, throws (or hangs past the timeout) when not. */
export type DependencyCheck = () => unknown;

export interface Readiness {
  /** One check per dependency (`database`, `kafka`, `storage`): each reported under its name. */
  checks?: Record<string, DependencyCheck>;
  /** True once shutdown began: readiness turns 503 first (reported as `draining`). */
  isDraining?: () => boolean;
  /**
   * A condition of the process itself (e.g. the runner has not joined its consumer group yet):
   * false is reported as `started: down`. Not cached.
   */
  ready?: () => Promise<boolean> | boolean;
  /** Longest a check may take before it counts as down (default 2000 ms). */
  timeoutMs?: number;
  /** How long a result is reused, so probes cannot pile up on a slow dependency (default 1000 ms). */
  cacheMs?: number;
}

/** Masks credentials in URLs and keeps the first line, at most 200 characters. */
export function shortError(err: unknown): string {
  const raw = err instanceof Error ? err.message || err.name : String(err);
  const line = raw.split('\n')[0] ?? '';
  const masked = line.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1***@');
  const code = (err as { code?: unknown } | null)?.code;
  const text = typeof code === 'string' && !masked.includes(code) ? `${code}: ${masked}` : masked;
  return (text || 'failed').slice(0, 200);
}

/**
 * Runs readiness checks with a timeout each and a short cache: concurrent probes share one run, and
 * a check still running (a hanging connection) is never started a second time.
 */
export class ReadinessChecker {
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly cache = new Map<string, { at: number; result: CheckResult }>();
  private readonly inFlight = new Map<string, Promise<CheckResult>>();
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(
    private readonly readiness: Readiness,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.timeoutMs = readiness.timeoutMs ?? 2000;
    this.cacheMs = readiness.cacheMs ?? 1000;
  }

  async report(): Promise<ReadinessReport> {
    const checks: Record<string, CheckResult> = {};
    const entries = Object.entries(this.readiness.checks ?? {});
    const results = await Promise.all(entries.map(([name, fn]) => this.check(name, fn)));
    entries.forEach(([name], i) => (checks[name] = results[i] as CheckResult));
    if (this.readiness.ready) {
      let ok = false;
      let error: string | undefined;
      try {
        ok = await this.readiness.ready();
      } catch (err) {
        error = shortError(err);
      }
      if (!ok) checks.started = { status: 'down', ms: 0, error: error ?? 'not started yet' };
    }
    if (this.readiness.isDraining?.()) checks.draining = { status: 'down', ms: 0, error: 'shutting down' };
    const ready = Object.values(checks).every((c) => c.status === 'up');
    return { status: ready ? 'ready' : 'not-ready', checks };
  }

  private check(name: string, fn: DependencyCheck): Promise<CheckResult> {
    const cached = this.cache.get(name);
    if (cached && this.now() - cached.at < this.cacheMs) return Promise.resolve(cached.result);
    const pending = this.inFlight.get(name);
    if (pending) return pending;
    const p = this.run(name, fn).then((result) => {
      this.cache.set(name, { at: this.now(), result });
      this.inFlight.delete(name);
      return result;
    });
    this.inFlight.set(name, p);
    return p;
  }

  private async run(name: string, fn: DependencyCheck): Promise<CheckResult> {
    const start = this.now();
    // A check that outlived its timeout keeps running; the next probe waits on it instead of adding one.
    let attempt = this.running.get(name);
    if (!attempt) {
      attempt = (async () => fn())();
      this.running.set(name, attempt);
      const clear = () => {
        if (this.running.get(name) === attempt) this.running.delete(name);
      };
      attempt.then(clear, clear);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([attempt, timeout]);
      return { status: 'up', ms: this.now() - start };
    } catch (err) {
      return { status: 'down', ms: this.now() - start, error: shortError(err) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The readiness report without timings and reasons: what anybody may see (names and up/down). */
export function publicReport(report: ReadinessReport): {
  status: ReadinessReport['status'];
  checks: Record<string, { status: CheckResult['status'] }>;
} {
  const checks = Object.fromEntries(Object.entries(report.checks).map(([n, c]) => [n, { status: c.status }]));
  return { status: report.status, checks };
}

/**
 * `/healthz`: the process is alive (no dependency is asked). `/readyz`: every dependency answers and
 * the service is not draining: 200 with each check, else 503 with the same body. Both answer without
 * a credential (probes); `/readyz` tells each check's timing and reason (addresses of dependencies)
 * only to a caller `mayReadDetails` accepts, others get the names and up/down.
 */
export function healthRoutes(
  readiness: Readiness,
  mayReadDetails: (req: Request) => boolean = () => true,
): Router {
  const r = express.Router();
  const checker = new ReadinessChecker(readiness);
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (req, res) => {
    const report = await checker.report();
    res
      .status(report.status === 'ready' ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json(mayReadDetails(req) ? report : publicReport(report));
  });
  return r;
}

/** The credentials of a process's own endpoints. */
export interface EndpointTokens {
  /**
   * The bearer token `/metrics` asks for (METRICS_TOKEN); none: `/metrics` answers 401 to everybody.
   * It also shows `/readyz`'s timings and reasons.
   */
  metricsToken?: string | undefined;
  /**
   * The installation's internal token (INTERNAL_TOKEN): when set, every path but `/healthz`,
   * `/readyz` and `/metrics` needs it in the `X-Internal-Token` header (a service behind the gateway).
   * Unset: the gateway, or a process without an API (the runner).
   */
  internalToken?: string | undefined;
}

export interface ServiceAppOptions extends EndpointTokens {
  logger: Logger;
  readiness: Readiness;
  /** Whose X-Forwarded-For gives the client's address (trustProxyFrom); default: nobody's. */
  trustProxy?: TrustProxy;
}

/**
 * The frame every service's express app shares: request ids, a span and a latency observation per
 * request, access log, health endpoints, `/metrics` (behind the metrics token), the internal-token
 * check (services behind the gateway), the service's routers, then a problem+json 404 and the one
 * error handler.
 */
export function createServiceApp(options: ServiceAppOptions, ...routers: Router[]): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy ?? false);
  app.set('query parser', 'simple');
  app.use(requestId);
  app.use(telemetry());
  app.use(accessLog(options.logger));
  const { metricsToken, internalToken } = options;
  app.use(
    healthRoutes(
      options.readiness,
      (req) =>
        (metricsToken !== undefined && sameSecret(bearerOf(req), metricsToken)) ||
        (internalToken !== undefined && sameSecret(req.get(INTERNAL_TOKEN_HEADER), internalToken)),
    ),
  );
  app.use(metricsRoute(metricsToken));
  if (internalToken !== undefined) app.use(requireInternalToken(internalToken));
  for (const r of routers) app.use(r);
  app.use(notFoundHandler);
  app.use(problemHandler(options.logger));
  return app;
}

export function firstQueryValue(req: Request, name: string): string | undefined {
  const v = req.query[name];
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
}
