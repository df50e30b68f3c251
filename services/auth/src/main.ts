import {
  httpEnv,
  kafkaEnv,
  kafkaOptions,
  parseEnv,
  pemFrom,
  pemsFrom,
  envInt,
  runMain,
  serviceTrustProxyEnv,
  internalTokenEnv,
  internalTokenFrom,
  metricsTokenEnv,
  metricsTokenFrom,
} from '@im/config';
import { Password, z } from '@im/contracts';
import { createDb, dbEnvSchema, toDbConfig } from '@im/db';
import { serve, trustProxyFrom } from '@im/http-kit';
import { ShutdownManager } from '@im/lifecycle';
import { createLogger } from '@im/logging';
import { initObservability } from '@im/observability';
import { KafkaEventBus } from '@im/messaging';
import { createApp, createAuthModule } from './app';

/** The auth service's environment (see services/auth/README.md). */
const AuthEnv = dbEnvSchema('auth').extend({
  ...httpEnv(8081),
  ...serviceTrustProxyEnv,
  ...kafkaEnv,
  /** PEM of the key that signs access tokens, RSA (RS256) or EC P-256 (ES256) (or AUTH_JWT_PRIVATE_KEY_FILE). */
  AUTH_JWT_PRIVATE_KEY: z.string().optional(),
  AUTH_JWT_PRIVATE_KEY_FILE: z.string().optional(),
  /** Public-key PEMs the JWKS lists besides the signing key's, during a rotation (or _FILE). */
  AUTH_JWT_PREVIOUS_PUBLIC_KEYS: z.string().optional(),
  AUTH_JWT_PREVIOUS_PUBLIC_KEYS_FILE: z.string().optional(),
  /** Password of the first administrator, used only while there are no users; generated when unset. */
  AUTH_ADMIN_PASSWORD: Password.optional(),
  /** Access-token lifetime, seconds (`expires_in`). */
  AUTH_ACCESS_TOKEN_TTL: envInt(36000, 60),
  AUTH_REFRESH_TOKEN_TTL: envInt(7 * 24 * 3600, 60),
  /** Failed logins for one user from one client address before that pair is refused, and for how long (s). */
  AUTH_MAX_FAILED_LOGINS: envInt(5, 1),
  AUTH_LOCKOUT_SECONDS: envInt(900, 1),
  /** Longest wait before a login of a user name with recent failures (250 ms doubling per failure), ms; 0: none. */
  AUTH_LOGIN_DELAY_MAX_MS: envInt(4000, 0),
  /** Failed logins from one client address within AUTH_IP_WINDOW_SECONDS before it is refused (429), per replica. */
  AUTH_IP_MAX_FAILED_LOGINS: envInt(20, 1),
  AUTH_IP_WINDOW_SECONDS: envInt(900, 1),
  /** How long such an address is refused, seconds. */
  AUTH_IP_LOCKOUT_SECONDS: envInt(900, 1),
  // INTERNAL_TOKEN (required to serve, not to migrate), METRICS_TOKEN: see libs/config endpoint-tokens.
  ...internalTokenEnv,
  ...metricsTokenEnv,
});

async function main(): Promise<void> {
  const env = parseEnv(AuthEnv, process.env);
  const logger = createLogger({ level: env.LOG_LEVEL, name: 'auth' });
  const db = createDb(toDbConfig(env));
  // user.changes: jobconfig stops a deactivated user's jobs and refuses their tokens.
  const bus = new KafkaEventBus(logger, kafkaOptions(env, 'auth'));
  const deps = {
    db,
    bus,
    dbSchema: env.DB_SCHEMA,
    logger,
    settings: {
      jwtPrivateKey: pemFrom(env.AUTH_JWT_PRIVATE_KEY, env.AUTH_JWT_PRIVATE_KEY_FILE, 'AUTH_JWT_PRIVATE_KEY'),
      jwtPreviousPublicKeys: pemsFrom(
        env.AUTH_JWT_PREVIOUS_PUBLIC_KEYS,
        env.AUTH_JWT_PREVIOUS_PUBLIC_KEYS_FILE,
      ),
      accessTokenTtlSeconds: env.AUTH_ACCESS_TOKEN_TTL,
      refreshTokenTtlSeconds: env.AUTH_REFRESH_TOKEN_TTL,
      maxFailedLogins: env.AUTH_MAX_FAILED_LOGINS,
      lockoutSeconds: env.AUTH_LOCKOUT_SECONDS,
      loginDelay: { baseMs: Math.min(250, env.AUTH_LOGIN_DELAY_MAX_MS), maxMs: env.AUTH_LOGIN_DELAY_MAX_MS },
      ipThrottle: {
        maxFailures: env.AUTH_IP_MAX_FAILED_LOGINS,
        windowSeconds: env.AUTH_IP_WINDOW_SECONDS,
        lockoutSeconds: env.AUTH_IP_LOCKOUT_SECONDS,
      },
    },
    ...(env.HTTP_PUBLIC_BASE_URL ? { publicBaseUrl: env.HTTP_PUBLIC_BASE_URL } : {}),
  };
  const mod = createAuthModule(deps);
  if (process.argv[2] === 'migrate') {
    const applied = await mod.migrate();
    logger.info({ applied }, 'migrations applied');
    await db.destroy();
    await bus.close();
    return;
  }
  const endpoints = { internalToken: internalTokenFrom(env, 'auth'), metricsToken: metricsTokenFrom(env) };
  const admin = await mod.service.bootstrapAdmin(env.AUTH_ADMIN_PASSWORD);
  if (admin.generatedPassword) {
    process.stdout.write(
      `First start: created the administrator "admin". Its password, shown only this once: ${admin.generatedPassword}\n`,
    );
  }
  const shutdown = new ShutdownManager(logger, env.SHUTDOWN_TIMEOUT_MS);
  // Metrics on GET /metrics of this port; traces as OTEL_* says (docs/observability.md).
  const telemetry = initObservability('auth', process.env);
  shutdown.register('close-clients', 'telemetry', () => telemetry.shutdown());
  const app = createApp({
    ...deps,
    endpoints,
    isDraining: () => shutdown.isShuttingDown,
    // Logins are throttled per client address: only the gateway may say which it is.
    trustProxy: trustProxyFrom(env.HTTP_TRUST_PROXY, { oneHop: true }),
  });
  const { port } = await serve(app, env.HTTP_PORT, env.HTTP_HOST, shutdown);
  // The audit trail of every service (audit.events) is stored here, for GET /api/audit.
  await mod.startAudit();
  shutdown.register('drain', 'audit', () => mod.stopAudit());
  shutdown.register('close-clients', 'database', () => db.destroy());
  shutdown.register('close-clients', 'kafka', () => bus.close());
  shutdown.installSignalHandlers();
  logger.info({ port }, 'auth service listening');
}

runMain('auth', main);
