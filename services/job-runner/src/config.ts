import type { ObjectStorageAccess } from './executor/executor.protocol';
import { z } from '@im/contracts';
import {
  envBoolean,
  envBytes,
  envInt,
  envPort,
  kafkaEnv,
  kafkaOptions,
  LogLevelEnv,
  metricsTokenEnv,
  metricsTokenFrom,
  parseEnv,
  s3Env,
  s3Options,
  SECRETS_KEY_HOWTO,
  secretsEnv,
  type SecretsKeyring,
} from '@im/config';
import type { KafkaBusOptions } from '@im/messaging';
import { isolationEnv, isolationFromEnv, type IsolationConfig } from './sandbox/isolation.config';
import type { S3StorageOptions } from '@im/storage';
import * as os from 'node:os';
import * as path from 'node:path';

/** The job runner's environment when it runs as its own process (main.ts). */
const JobRunnerEnv = z.object({
  /** Names this runner in progress messages; default <hostname>-<pid>. */
  RUNNER_ID: z.string().min(1).max(200).optional(),
  /** Jobs run at the same time (concurrent jobs per runner); default 2. */
  JOBS_CONCURRENCY: z.coerce.number().int().min(1).optional(),
  /** Older name of JOBS_CONCURRENCY, still accepted. */
  RUNNER_SLOTS: z.coerce.number().int().min(1).optional(),
  ...isolationEnv,
  /** Executors started ahead of their jobs, each in a fresh process that runs exactly one job (saves 0.1-0.3 s per job); 0 starts every job's executor when the job arrives. */
  JOBS_WARM_EXECUTORS: envInt(2, 0),
  /** Room for unchanged packages kept between jobs under <work dir>/cache, MiB; 0 turns the cache off. */
  JOBS_PACKAGE_CACHE_MB: envInt(1024, 0),
  /** Where attempts unpack and run; default <os tmpdir>/im-runner. */
  RUNNER_WORK_DIR: z.string().min(1).optional(),
  /** How long running jobs may finish on shutdown before they are stopped and handed back (re-queued as a new attempt for another runner), ms. */
  RUNNER_GRACE_MS: envInt(20_000, 0),
  /** Longest time between two heartbeats of the runner's leases, ms (it also beats at least three times per lease jobconfig grants). */
  RUNNER_HEARTBEAT_MS: envInt(5_000, 50),
  /** Between SIGTERM and SIGKILL when a job is stopped (cancel, timeout, shutdown), ms; at most 3000 so a stopped job is gone within 5 s. */
  RUNNER_KILL_GRACE_MS: envInt(3_000, 0).pipe(
    z.number().max(3_000, 'must be at most 3000 (a stopped job must be gone within 5 s)'),
  ),
  /** Job log uploads while a job runs, at most this often, ms. */
  RUNNER_LOG_FLUSH_MS: envInt(1_000, 50),
  /** Keep each attempt's directory after the job (debugging only: it holds the package and outputs). */
  RUNNER_KEEP_WORK_DIRS: envBoolean(false),
  /** Largest total uncompressed size of a package. */
  RUNNER_MAX_UNPACKED_BYTES: envBytes(1024 ** 3),
  /** Most entries a package may have. */
  RUNNER_MAX_ENTRIES: envInt(10_000, 1),
  /** pino level of the runner's own logs (not job logs). */
  LOG_LEVEL: LogLevelEnv,
  /** Port of /healthz, /readyz and /metrics. */
  HTTP_PORT: envPort(8085),
  /** Interface of the health endpoints. */
  HTTP_HOST: z.string().default('0.0.0.0'),
  // KAFKA_BROKERS (required), KAFKA_TOPIC_PREFIX, KAFKA_CLIENT_ID, KAFKA_SSL, KAFKA_SASL_*
  ...kafkaEnv,
  // S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY (required), S3_ENDPOINT, S3_REGION, S3_FORCE_PATH_STYLE, S3_KEY_PREFIX
  ...s3Env,
  /**
   * Object storage offered to packages (the `object` connector, `s3://bucket/key`): a credential of its
   * own, scoped by the operator to the buckets packages may use. Unset: packages get no object storage.
   * Never the platform's own S3 credential, which reaches every configuration's files.
   */
  PACKAGE_S3_ENDPOINT: z.url().optional(),
  PACKAGE_S3_REGION: z.string().default('us-east-1'),
  PACKAGE_S3_ACCESS_KEY_ID: z.string().optional(),
  PACKAGE_S3_SECRET_ACCESS_KEY: z.string().optional(),
  PACKAGE_S3_FORCE_PATH_STYLE: envBoolean(true),
  /** Keyring secure macro values arrive encrypted with (required): the same value as jobconfig's. */
  ...secretsEnv,
  // METRICS_TOKEN / METRICS_TOKEN_FILE: bearer token of /metrics (unset: /metrics answers 401).
  ...metricsTokenEnv,
});

export interface JobRunnerConfig {
  runner: {
    id: string;
    slots: number;
    workDir: string;
    graceMs: number;
    heartbeatMs: number;
    killGraceMs: number;
    logFlushMs: number;
    keepWorkDirs: boolean;
    warmExecutors: number;
    unpackLimits: { maxBytes: number; maxEntries: number };
    sandbox: boolean;
    memoryMb: number;
    isolation: IsolationConfig['isolation'];
    packageCacheBytes: number;
    /** Object storage handed to packages, if any (see PACKAGE_S3_*). */
    packageObjectStorage: ObjectStorageAccess | undefined;
  };
  logLevel: string;
  kafka: KafkaBusOptions;
  s3: S3StorageOptions;
  /** `metricsToken`: bearer token of /metrics (none: /metrics answers 401 to everybody). */
  http: { port: number; host: string; metricsToken: string | undefined };
  /** Decrypts the secure macro values of job requests (SECRETS_ENCRYPTION_KEYS). */
  secrets: SecretsKeyring;
}

export function loadConfig(env: NodeJS.ProcessEnv): JobRunnerConfig {
  const e = parseEnv(
    JobRunnerEnv.superRefine((v, ctx) => {
      if (!v.SECRETS_ENCRYPTION_KEYS)
        ctx.addIssue({
          code: 'custom',
          path: ['SECRETS_ENCRYPTION_KEYS'],
          message: `is required (the runner decrypts secure macro values with it): ${SECRETS_KEY_HOWTO}`,
        });
      if (
        v.JOBS_CONCURRENCY !== undefined &&
        v.RUNNER_SLOTS !== undefined &&
        v.JOBS_CONCURRENCY !== v.RUNNER_SLOTS
      )
        ctx.addIssue({
          code: 'custom',
          path: ['RUNNER_SLOTS'],
          message: `differs from JOBS_CONCURRENCY (${v.JOBS_CONCURRENCY}); RUNNER_SLOTS is its older name: set only JOBS_CONCURRENCY`,
        });
    }),
    env,
  );
  const id = e.RUNNER_ID ?? `${os.hostname()}-${process.pid}`;
  return {
    runner: {
      id,
      slots: e.JOBS_CONCURRENCY ?? e.RUNNER_SLOTS ?? 2,
      workDir: path.resolve(e.RUNNER_WORK_DIR ?? path.join(os.tmpdir(), 'im-runner')),
      graceMs: e.RUNNER_GRACE_MS,
      heartbeatMs: e.RUNNER_HEARTBEAT_MS,
      killGraceMs: e.RUNNER_KILL_GRACE_MS,
      logFlushMs: e.RUNNER_LOG_FLUSH_MS,
      keepWorkDirs: e.RUNNER_KEEP_WORK_DIRS,
      warmExecutors: e.JOBS_WARM_EXECUTORS,
      unpackLimits: { maxBytes: e.RUNNER_MAX_UNPACKED_BYTES, maxEntries: e.RUNNER_MAX_ENTRIES },
      ...isolationFromEnv(e),
      packageCacheBytes: e.JOBS_PACKAGE_CACHE_MB * 1024 * 1024,
      packageObjectStorage:
        e.PACKAGE_S3_ACCESS_KEY_ID && e.PACKAGE_S3_SECRET_ACCESS_KEY
          ? {
              kind: 's3',
              ...(e.PACKAGE_S3_ENDPOINT ? { endpoint: e.PACKAGE_S3_ENDPOINT } : {}),
              region: e.PACKAGE_S3_REGION,
              accessKeyId: e.PACKAGE_S3_ACCESS_KEY_ID,
              secretAccessKey: e.PACKAGE_S3_SECRET_ACCESS_KEY,
              forcePathStyle: e.PACKAGE_S3_FORCE_PATH_STYLE,
            }
          : undefined,
    },
    logLevel: e.LOG_LEVEL,
    kafka: kafkaOptions(e, `job-runner-${id}`),
    s3: s3Options(e),
    http: { port: e.HTTP_PORT, host: e.HTTP_HOST, metricsToken: metricsTokenFrom(e) },
    secrets: e.SECRETS_ENCRYPTION_KEYS as SecretsKeyring,
  };
}
