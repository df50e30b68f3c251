import {
  envInt,
  httpEnv,
  internalTokenEnv,
  internalTokenFrom,
  jwtVerifyEnv,
  metricsTokenEnv,
  metricsTokenFrom,
  parseEnv,
  runMain,
  tokenVerificationFrom,
} from '@im/config';
import { z } from '@im/contracts';
import { createAuthenticator, INTERNAL_TOKEN_HEADER, serve } from '@im/http-kit';
import { ShutdownManager } from '@im/lifecycle';
import { createLogger } from '@im/logging';
import { initObservability } from '@im/observability';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createApp } from './app';
import { hardeningEnv, hardeningFromEnv } from './hardening';
import { proxyRouter } from './proxy';

/** The gateway's environment (see services/gateway/README.md). */
const GatewayEnv = z.object({
  ...httpEnv(8080),
  ...jwtVerifyEnv,
  /** Base URLs of the services behind the gateway. */
  AUTH_SERVICE_URL: z.url(),
  JOBCONFIG_SERVICE_URL: z.url(),
  FILES_SERVICE_URL: z.url(),
  /** Longest wait for a service's response headers once the request has been sent whole, ms. */
  PROXY_RESPONSE_TIMEOUT_MS: envInt(30_000, 100),
  /** Longest silence on a proxied connection (uploads, followed logs), ms. */
  PROXY_IDLE_TIMEOUT_MS: envInt(300_000, 1000),
  ...hardeningEnv,
  ...internalTokenEnv,
  ...metricsTokenEnv,
});

function version(): string {
  try {
    return (
      JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return '0.0.0';
  }
}

async function main(): Promise<void> {
  const env = parseEnv(GatewayEnv, process.env);
  const internalToken = internalTokenFrom(env, 'gateway');
  const logger = createLogger({ level: env.LOG_LEVEL, name: 'gateway' });
  const shutdown = new ShutdownManager(logger, env.SHUTDOWN_TIMEOUT_MS);
  // Metrics on GET /metrics of this port; traces as OTEL_* says (docs/observability.md).
  const telemetry = initObservability('gateway', process.env);
  shutdown.register('close-clients', 'telemetry', () => telemetry.shutdown());
  const app = createApp({
    logger,
    ...hardeningFromEnv(env),
    info: {
      name: 'integration-manager',
      version: version(),
      buildDate: fs.statSync(__filename).mtime.toISOString(),
    },
    // Not draining is all: each service behind it has its own readiness, and one of them being down
    // must not take the whole API (login, the others' routes) out of rotation.
    readiness: { isDraining: () => shutdown.isShuttingDown },
    authenticate: createAuthenticator(tokenVerificationFrom(env, { [INTERNAL_TOKEN_HEADER]: internalToken })),
    metricsToken: metricsTokenFrom(env),
    upstreams: [
      proxyRouter(
        {
          auth: { name: 'auth', url: env.AUTH_SERVICE_URL },
          jobconfig: { name: 'jobconfig', url: env.JOBCONFIG_SERVICE_URL },
          'file-storage': { name: 'file-storage', url: env.FILES_SERVICE_URL },
        },
        {
          responseTimeoutMs: env.PROXY_RESPONSE_TIMEOUT_MS,
          idleTimeoutMs: env.PROXY_IDLE_TIMEOUT_MS,
          logger,
          internalToken,
        },
      ),
    ],
    ...(env.HTTP_PUBLIC_BASE_URL ? { publicBaseUrl: env.HTTP_PUBLIC_BASE_URL } : {}),
  });
  const { port } = await serve(app, env.HTTP_PORT, env.HTTP_HOST, shutdown);
  shutdown.installSignalHandlers();
  logger.info({ port }, 'gateway listening');
}

runMain('gateway', main);
