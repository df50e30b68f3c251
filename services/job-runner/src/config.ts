import { z } from '@im/contracts';
import {
  envBoolean,
  envBytes,
  envInt,
  envPort,
  kafkaEnv,
  kafkaOptions,
  LogLevelEnv,
  parseEnv,
  s3Env,
  s3Options,
} from '@im/config';
import type { KafkaBusOptions } from '@im/messaging';
import type { S3StorageOptions } from '@im/storage';
import * as os from 'node:os';
import * as path from 'node:path';

/** The job runner's environment when it runs as its own process (main.ts). */
const JobRunnerEnv = z.object({
  /** Names this runner in progress messages; default <hostname>-<pid>. */
  RUNNER_ID: z.string().min(1).max(200).optional(),
  /** Jobs run at the same time. */
  RUNNER_SLOTS: envInt(2, 1),
  /** Where attempts unpack and run; default <os tmpdir>/im-runner. */
  RUNNER_WORK_DIR: z.string().min(1).optional(),
  /** How long running jobs may finish on shutdown before they are stopped (FAILED runner-lost), ms. */
  RUNNER_GRACE_MS: envInt(20_000, 0),
  /** Between SIGTERM and SIGKILL when a job is stopped, ms. */
  RUNNER_KILL_GRACE_MS: envInt(5_000, 0),
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
  /** Port of /healthz and /readyz. */
  HTTP_PORT: envPort(8085),
  /** Interface of the health endpoints. */
  HTTP_HOST: z.string().default('0.0.0.0'),
  // KAFKA_BROKERS (required), KAFKA_TOPIC_PREFIX, KAFKA_CLIENT_ID, KAFKA_SSL, KAFKA_SASL_*
  ...kafkaEnv,
  // S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY (required), S3_ENDPOINT, S3_REGION, S3_FORCE_PATH_STYLE, S3_KEY_PREFIX
  ...s3Env,
});

export interface JobRunnerConfig {
  runner: {
    id: string;
    slots: number;
    workDir: string;
    graceMs: number;
    killGraceMs: number;
    logFlushMs: number;
    keepWorkDirs: boolean;
    unpackLimits: { maxBytes: number; maxEntries: number };
  };
  logLevel: string;
  kafka: KafkaBusOptions;
  s3: S3StorageOptions;
  http: { port: number; host: string };
}

export function loadConfig(env: NodeJS.ProcessEnv): JobRunnerConfig {
  const e = parseEnv(JobRunnerEnv, env);
  const id = e.RUNNER_ID ?? `${os.hostname()}-${process.pid}`;
  return {
    runner: {
      id,
      slots: e.RUNNER_SLOTS,
      workDir: path.resolve(e.RUNNER_WORK_DIR ?? path.join(os.tmpdir(), 'im-runner')),
      graceMs: e.RUNNER_GRACE_MS,
      killGraceMs: e.RUNNER_KILL_GRACE_MS,
      logFlushMs: e.RUNNER_LOG_FLUSH_MS,
      keepWorkDirs: e.RUNNER_KEEP_WORK_DIRS,
      unpackLimits: { maxBytes: e.RUNNER_MAX_UNPACKED_BYTES, maxEntries: e.RUNNER_MAX_ENTRIES },
    },
    logLevel: e.LOG_LEVEL,
    kafka: kafkaOptions(e, `job-runner-${id}`),
    s3: s3Options(e),
    http: { port: e.HTTP_PORT, host: e.HTTP_HOST },
  };
}
