import type { ProductInfo } from '@im/contracts';
import { createServiceApp, type Readiness, type TrustProxy } from '@im/http-kit';
import type { Logger } from '@im/logging';
import express, { type Express, type RequestHandler, type Router } from 'express';
import { consoleRoutes } from './console';
import { docsRoutes } from './docs.routes';
import { eventStreamAuth } from './event-stream';
import { hardening, type HardeningOptions } from './hardening';
import { canonicalPaths } from './proxy';

/** Paths anyone may call: logging in, product info and the API's documentation. */
export const PUBLIC_PATHS = [
  /^\/api\/login(\/refresh)?$/,
  /^\/api\/\.well-known\/jwks\.json$/,
  /^\/api\/product\/info$/,
  /^\/api\/openapi\.json$/,
  /^\/api\/docs(\/.*)?$/,
];

export interface GatewayDeps {
  logger: Logger;
  info: ProductInfo;
  readiness: Readiness;
  /** Verifies the access token at the edge. */
  authenticate: RequestHandler;
  /** Where /api/* goes: the services' routers (standalone) or proxies to them (one process per service). */
  upstreams: Router[];
  publicBaseUrl?: string;
  /** Security headers, CORS allow-list and rate limits (generous defaults; see hardening.ts). */
  hardening?: HardeningOptions;
  /**
   * Which proxies' X-Forwarded-For to trust for the client IP: nobody's by default; behind an
   * ingress, its addresses or ranges (GATEWAY_TRUST_PROXY, trustProxyFrom).
   */
  trustProxy?: TrustProxy;
  /** The web console's build to serve at /ui (services/console/dist by default; see console.ts). */
  consoleDir?: string;
  /** Bearer token of this process's `/metrics` (METRICS_TOKEN); none: `/metrics` answers 401. */
  metricsToken?: string | undefined;
}

/** Refuses requests without a valid token before they reach a service, except on public paths. */
export function edgeAuth(authenticate: RequestHandler): RequestHandler {
  return (req, res, next) => {
    if (!req.path.startsWith('/api/') || PUBLIC_PATHS.some((p) => p.test(req.path))) return next();
    return authenticate(req, res, next);
  };
}

export function createApp(deps: GatewayDeps): Express {
  const api = express.Router();
  // `/api/jobs/../../metrics` must not become another path behind the edge check (400).
  api.use(canonicalPaths);
  // GET /api/jobs/events may carry its token in the query (EventSource); moved to the header first.
  api.use(eventStreamAuth());
  api.use(hardening(deps.hardening));
  api.use(docsRoutes(deps.info, deps.publicBaseUrl));
  api.use(edgeAuth(deps.authenticate));
  for (const u of deps.upstreams) api.use(u);
  return createServiceApp(
    {
      logger: deps.logger,
      readiness: deps.readiness,
      trustProxy: deps.trustProxy ?? false,
      metricsToken: deps.metricsToken,
    },
    consoleRoutes(deps.logger, deps.consoleDir),
    api,
  );
}
