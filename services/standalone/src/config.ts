import { Password, z } from '@im/contracts';
import {
  envBoolean,
  envBytes,
  envInt,
  envPort,
  LogLevelEnv,
  metricsTokenEnv,
  metricsTokenFrom,
  parseEnv,
  secretsEnv,
  type SecretsKeyring,
} from '@im/config';
import { hardeningEnv, hardeningFromEnv, type HardeningOptions } from '@im/gateway';
import type { TrustProxy } from '@im/http-kit';
import { isolationEnv, isolationFromEnv, type IsolationConfig } from '@im/job-runner';
import * as path from 'node:path';

/** Standalone mode's environment. Every variable is optional; the defaults give a working platform. */
const StandaloneEnv = z.object({
  /** TCP port of the API (0 picks a free one). */
  PORT: envPort(8080),
  /** Interface to listen on; loopback by default, 0.0.0.0 to accept other machines. */
  HOST: z.string().default('127.0.0.1'),
  /** Where databases, files, logs and keys live. */
  IM_DATA_DIR: z.string().default('./data'),
  /** Password of the first administrator "admin"; generated and printed once when unset. */
  IM_ADMIN_PASSWORD: Password.optional(),
  /** Absolute base URL for hrefs when behind a proxy, e.g. https://im.example.com. */
  IM_PUBLIC_BASE_URL: z.url().optional(),
  /** pino level. */
  LOG_LEVEL: LogLevelEnv,
  /** Largest file upload accepted. */
  FILES_MAX_BYTES: envBytes(1024 ** 3),
  /** Jobs run at the same time. */
  RUNNER_SLOTS: envInt(2, 1),
  /** Jobs run at the same time (the newer name of RUNNER_SLOTS; wins when both are set). */
  JOBS_CONCURRENCY: z.coerce.number().int().min(1).optional(),
  /** Job executors started ahead of their jobs (a fresh process per job either way); 0 turns it off. */
  JOBS_WARM_EXECUTORS: envInt(2, 0),
  /** The job boundary: JOBS_ISOLATION, JOBS_NETWORK, JOBS_SANDBOX, JOBS_MEMORY_MB, … (docs/operations.md). */
  ...isolationEnv,
  /** Access token lifetime in seconds. */
  AUTH_ACCESS_TOKEN_TTL: envInt(36000, 60),
  /** Refresh token lifetime in seconds. */
  AUTH_REFRESH_TOKEN_TTL: envInt(7 * 24 * 3600, 60),
  /** Failed logins for one user from one client address before that pair is refused, and for how long (s). */
  AUTH_MAX_FAILED_LOGINS: envInt(5, 1),
  AUTH_LOCKOUT_SECONDS: envInt(900, 1),
  /** Longest wait before a login of a user name with recent failures (250 ms doubling per failure), ms; 0: none. */
  AUTH_LOGIN_DELAY_MAX_MS: envInt(4000, 0),
  /** Failed logins from one client address within the window before it is refused (429), and for how long. */
  AUTH_IP_MAX_FAILED_LOGINS: envInt(20, 1),
  AUTH_IP_WINDOW_SECONDS: envInt(900, 1),
  AUTH_IP_LOCKOUT_SECONDS: envInt(900, 1),
  /** Grace period for running jobs on shutdown, in ms. */
  SHUTDOWN_GRACE_MS: envInt(20000, 0),
  /** Fire configurations' schedules; and how often to look for due ones, in ms. */
  SCHEDULER_ENABLED: envBoolean(true),
  SCHEDULER_POLL_MS: envInt(1000, 100),
  /** The gateway's CORS allow-list, rate limits and trusted proxies (as in distributed mode). */
  ...hardeningEnv,
  /**
   * Keyring of secure macro values (`kid:base64key,...`); unset: a key made on the first start and
   * kept in $IM_DATA_DIR/keys/secrets-encryption-keys (mode 600).
   */
  ...secretsEnv,
  /**
   * Bearer token of GET /metrics (or METRICS_TOKEN_FILE); unset: a token made on the first start and
   * kept in $IM_DATA_DIR/keys/metrics-token (mode 600).
   */
  ...metricsTokenEnv,
});

export interface StandaloneConfig {
  http: { port: number; host: string; publicBaseUrl: string | undefined };
  dataDir: string;
  adminPassword: string | undefined;
  logLevel: string;
  files: { maxBytes: number };
  runner: { slots: number; warmExecutors: number } & IsolationConfig;
  auth: {
    accessTokenTtl: number;
    refreshTokenTtl: number;
    maxFailedLogins: number;
    lockoutSeconds: number;
    loginDelay: { baseMs: number; maxMs: number };
    ipThrottle: { maxFailures: number; windowSeconds: number; lockoutSeconds: number };
  };
  shutdownGraceMs: number;
  scheduler: { enabled: boolean; pollMs: number };
  gateway: { hardening: HardeningOptions; trustProxy: TrustProxy };
  /** SECRETS_ENCRYPTION_KEYS when set; otherwise the platform uses the key file of its data dir. */
  secrets: SecretsKeyring | undefined;
  /** METRICS_TOKEN when set; otherwise the platform uses the token file of its data dir. */
  metricsToken: string | undefined;
}

export function loadConfig(env: NodeJS.ProcessEnv): StandaloneConfig {
  const e = parseEnv(StandaloneEnv, env);
  return {
    http: { port: e.PORT, host: e.HOST, publicBaseUrl: e.IM_PUBLIC_BASE_URL },
    dataDir: path.resolve(e.IM_DATA_DIR),
    adminPassword: e.IM_ADMIN_PASSWORD,
    logLevel: e.LOG_LEVEL,
    files: { maxBytes: e.FILES_MAX_BYTES },
    runner: {
      slots: e.JOBS_CONCURRENCY ?? e.RUNNER_SLOTS,
      warmExecutors: e.JOBS_WARM_EXECUTORS,
      ...isolationFromEnv(e),
    },
    auth: {
      accessTokenTtl: e.AUTH_ACCESS_TOKEN_TTL,
      refreshTokenTtl: e.AUTH_REFRESH_TOKEN_TTL,
      maxFailedLogins: e.AUTH_MAX_FAILED_LOGINS,
      lockoutSeconds: e.AUTH_LOCKOUT_SECONDS,
      loginDelay: { baseMs: Math.min(250, e.AUTH_LOGIN_DELAY_MAX_MS), maxMs: e.AUTH_LOGIN_DELAY_MAX_MS },
      ipThrottle: {
        maxFailures: e.AUTH_IP_MAX_FAILED_LOGINS,
        windowSeconds: e.AUTH_IP_WINDOW_SECONDS,
        lockoutSeconds: e.AUTH_IP_LOCKOUT_SECONDS,
      },
    },
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    scheduler: { enabled: e.SCHEDULER_ENABLED, pollMs: e.SCHEDULER_POLL_MS },
    gateway: hardeningFromEnv(e),
    secrets: e.SECRETS_ENCRYPTION_KEYS,
    metricsToken: metricsTokenFrom(e),
  };
}
