import {
  envBoolean,
  envInt,
  httpEnv,
  serviceTrustProxyEnv,
  internalTokenEnv,
  internalTokenFrom,
  jwtVerifyEnv,
  kafkaEnv,
  kafkaOptions,
  generateKeyringEntry,
  metricsTokenEnv,
  metricsTokenFrom,
  parseEnv,
  parseKeyring,
  requireKeyring,
  s3Env,
  secretsEnv,
  s3Options,
  runMain,
  tokenVerificationFrom,
} from '@im/config';
import { z } from '@im/contracts';
import { createDb, dbEnvSchema, toDbConfig } from '@im/db';
import {
  createAuthenticator,
  httpFileCatalog,
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

/** The jobconfig service's environment (see services/jobconfig/README.md). */
const JobConfigEnv = dbEnvSchema('jobconfig').extend({
  ...httpEnv(8082),
  ...serviceTrustProxyEnv,
  ...jwtVerifyEnv,
  ...kafkaEnv,
  ...s3Env,
  // SECRETS_ENCRYPTION_KEYS: required to serve (not for migrate or create-topics).
  ...secretsEnv,
  /** Base URL of the file-storage service (internal). */
  FILES_SERVICE_URL: z.url(),
  /** Timeout of internal calls, ms. */
  INTERNAL_TIMEOUT_MS: envInt(5000, 100),
  /** How long a runner holds a job attempt without a heartbeat before it counts as lost, ms. */
  JOBS_LEASE_MS: envInt(30_000, 1000),
  /** Run the schedule loop in this replica (every replica may: each tick fires once). */
  SCHEDULER_ENABLED: envBoolean(true),
  /** How often the schedule loop looks for due schedules, ms. */
  SCHEDULER_POLL_MS: envInt(1000, 100),
  /** `create-topics` only: partitions and replication of new topics. */
  KAFKA_TOPIC_PARTITIONS: envInt(6, 1),
  KAFKA_TOPIC_REPLICATION: envInt(3, 1),
  /**
   * `create-topics` only: the Kafka user of each service (and of event consumers), granted the ACLs of
   * its role on this prefix's topics and groups (docs/adr/0017-kafka-sasl-and-acls.md). Unset: none.
   */
  KAFKA_ACL_AUTH_USER: z.string().min(1).optional(),
  KAFKA_ACL_JOBCONFIG_USER: z.string().min(1).optional(),
  KAFKA_ACL_FILE_STORAGE_USER: z.string().min(1).optional(),
  KAFKA_ACL_JOB_RUNNER_USER: z.string().min(1).optional(),
  KAFKA_ACL_EVENTS_USER: z.string().min(1).optional(),
  // INTERNAL_TOKEN (required to serve, not to migrate), METRICS_TOKEN: see libs/config endpoint-tokens.
  ...internalTokenEnv,
  ...metricsTokenEnv,
});

async function main(): Promise<void> {
  const env = parseEnv(JobConfigEnv, process.env);
  const logger = createLogger({ level: env.LOG_LEVEL, name: 'jobconfig' });
  const bus = new KafkaEventBus(logger, kafkaOptions(env, 'jobconfig'));
  if (process.argv[2] === 'create-topics') {
    const created = await bus.ensureTopics({
      partitions: env.KAFKA_TOPIC_PARTITIONS,
      replicationFactor: env.KAFKA_TOPIC_REPLICATION,
    });
    const acls = await bus.ensureAcls({
      auth: env.KAFKA_ACL_AUTH_USER,
      jobconfig: env.KAFKA_ACL_JOBCONFIG_USER,
      'file-storage': env.KAFKA_ACL_FILE_STORAGE_USER,
      'job-runner': env.KAFKA_ACL_JOB_RUNNER_USER,
      events: env.KAFKA_ACL_EVENTS_USER,
    });
    logger.info({ created, acls }, 'topics and ACLs created');
    await bus.close();
    return;
  }
  // Secure macro values are stored and sent to runners encrypted: no key, no service. `migrate` only
  // changes the schema (the values are encrypted when the service starts): it needs none.
  const secrets =
    process.argv[2] === 'migrate'
      ? (env.SECRETS_ENCRYPTION_KEYS ?? parseKeyring(generateKeyringEntry('migrate-only')))
      : requireKeyring(env.SECRETS_ENCRYPTION_KEYS, 'jobconfig');
  // `migrate` serves nothing: it needs no internal token.
  const internalToken = process.argv[2] === 'migrate' ? 'migrate-only' : internalTokenFrom(env, 'jobconfig');
  const db = createDb(toDbConfig(env));
  const storage = new S3ObjectStorage(s3Options(env));
  const shutdown = new ShutdownManager(logger, env.SHUTDOWN_TIMEOUT_MS);
  // Metrics on GET /metrics of this port; traces as OTEL_* says (docs/observability.md).
  const telemetry = initObservability('jobconfig', process.env);
  shutdown.register('close-clients', 'telemetry', () => telemetry.shutdown());
  const { app, module } = createApp({
    // The audit's source address: only the gateway may say which it is.
    trustProxy: trustProxyFrom(env.HTTP_TRUST_PROXY, { oneHop: true }),
    db,
    dbSchema: env.DB_SCHEMA,
    logger,
    bus,
    storage,
    files: httpFileCatalog({
      baseUrl: env.FILES_SERVICE_URL,
      timeoutMs: env.INTERNAL_TIMEOUT_MS,
      internalToken,
    }),
    authenticate: createAuthenticator(tokenVerificationFrom(env, { [INTERNAL_TOKEN_HEADER]: internalToken })),
    endpoints: { internalToken, metricsToken: metricsTokenFrom(env) },
    isDraining: () => shutdown.isShuttingDown,
    scheduler: { enabled: env.SCHEDULER_ENABLED, pollMs: env.SCHEDULER_POLL_MS },
    leaseMs: env.JOBS_LEASE_MS,
    secrets,
    ...(env.HTTP_PUBLIC_BASE_URL ? { publicBaseUrl: env.HTTP_PUBLIC_BASE_URL } : {}),
  });
  if (process.argv[2] === 'migrate') {
    logger.info({ applied: await module.migrate() }, 'migrations applied');
    await db.destroy();
    await bus.close();
    return;
  }
  await module.start();
  const { port } = await serve(app, env.HTTP_PORT, env.HTTP_HOST, shutdown);
  shutdown.register('stop-intake', 'scheduler', () => module.scheduler.stop());
  shutdown.register('drain', 'progress-consumer', () => module.stop());
  shutdown.register('close-clients', 'kafka', () => bus.close());
  shutdown.register('close-clients', 'database', () => db.destroy());
  shutdown.register('close-clients', 's3', () => storage.close());
  shutdown.installSignalHandlers();
  logger.info({ port }, 'jobconfig service listening');
}

runMain('jobconfig', main);
