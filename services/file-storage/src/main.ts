import {
  envBytes,
  envInt,
  httpEnv,
  serviceTrustProxyEnv,
  internalTokenEnv,
  internalTokenFrom,
  jwtVerifyEnv,
  kafkaEnv,
  kafkaOptions,
  metricsTokenEnv,
  metricsTokenFrom,
  parseEnv,
  s3Env,
  s3Options,
  runMain,
  tokenVerificationFrom,
} from '@im/config';
import { z } from '@im/contracts';
import { createDb, dbEnvSchema, toDbConfig } from '@im/db';
import {
  createAuthenticator,
  httpConfigAccess,
  INTERNAL_TOKEN_HEADER,
  serve,
  trustProxyFrom,
} from '@im/http-kit';
import { ShutdownManager } from '@im/lifecycle';
import { createLogger } from '@im/logging';
import { initObservability } from '@im/observability';
import { KafkaEventBus } from '@im/messaging';
import { S3ObjectStorage } from '@im/storage';
import { createApp } from './app';

/** The file-storage service's environment (see services/file-storage/README.md). */
const FileStorageEnv = dbEnvSchema('files').extend({
  ...httpEnv(8083),
  ...serviceTrustProxyEnv,
  ...jwtVerifyEnv,
  ...kafkaEnv,
  ...s3Env,
  /** Base URL of the jobconfig service (internal). */
  JOBCONFIG_SERVICE_URL: z.url(),
  /** Timeout of internal calls, ms. */
  INTERNAL_TIMEOUT_MS: envInt(5000, 100),
  /** Largest upload accepted. */
  FILES_MAX_BYTES: envBytes(1024 ** 3),
  // INTERNAL_TOKEN (required to serve, not to migrate), METRICS_TOKEN: see libs/config endpoint-tokens.
  ...internalTokenEnv,
  ...metricsTokenEnv,
});

async function main(): Promise<void> {
  const env = parseEnv(FileStorageEnv, process.env);
  const logger = createLogger({ level: env.LOG_LEVEL, name: 'file-storage' });
  // The setup Job's `migrate` serves nothing: it needs no internal token.
  const internalToken =
    process.argv[2] === 'migrate' ? 'migrate-only' : internalTokenFrom(env, 'file-storage');
  const db = createDb(toDbConfig(env));
  const bus = new KafkaEventBus(logger, kafkaOptions(env, 'file-storage'));
  const storage = new S3ObjectStorage(s3Options(env));
  const shutdown = new ShutdownManager(logger, env.SHUTDOWN_TIMEOUT_MS);
  // Metrics on GET /metrics of this port; traces as OTEL_* says (docs/observability.md).
  const telemetry = initObservability('file-storage', process.env);
  shutdown.register('close-clients', 'telemetry', () => telemetry.shutdown());
  const { app, module } = createApp({
    // The audit's source address: only the gateway may say which it is.
    trustProxy: trustProxyFrom(env.HTTP_TRUST_PROXY, { oneHop: true }),
    db,
    dbSchema: env.DB_SCHEMA,
    logger,
    bus,
    storage,
    access: httpConfigAccess({
      baseUrl: env.JOBCONFIG_SERVICE_URL,
      timeoutMs: env.INTERNAL_TIMEOUT_MS,
      internalToken,
    }),
    authenticate: createAuthenticator(tokenVerificationFrom(env, { [INTERNAL_TOKEN_HEADER]: internalToken })),
    endpoints: { internalToken, metricsToken: metricsTokenFrom(env) },
    maxBytes: env.FILES_MAX_BYTES,
    isDraining: () => shutdown.isShuttingDown,
    ...(env.HTTP_PUBLIC_BASE_URL ? { publicBaseUrl: env.HTTP_PUBLIC_BASE_URL } : {}),
  });
  if (process.argv[2] === 'migrate') {
    logger.info({ applied: await module.migrate() }, 'migrations applied');
    await db.destroy();
    return;
  }
  await module.start();
  const { port } = await serve(app, env.HTTP_PORT, env.HTTP_HOST, shutdown);
  shutdown.register('drain', 'changes-consumer', () => module.stop());
  shutdown.register('close-clients', 'kafka', () => bus.close());
  shutdown.register('close-clients', 'database', () => db.destroy());
  shutdown.register('close-clients', 's3', () => storage.close());
  shutdown.installSignalHandlers();
  logger.info({ port }, 'file-storage service listening');
}

runMain('file-storage', main);
