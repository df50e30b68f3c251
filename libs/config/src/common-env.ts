import { z } from '@im/contracts';
import * as fs from 'node:fs';
import { envBoolean, envInt, envPort, LogLevelEnv } from './env';

/** Env every HTTP service shares. */
export function httpEnv(defaultPort: number) {
  return {
    /** Port the service listens on. */
    HTTP_PORT: envPort(defaultPort),
    /** Interface to listen on. */
    HTTP_HOST: z.string().default('0.0.0.0'),
    /** Absolute base of hrefs, e.g. https://im.example.com (default: the request's host). */
    HTTP_PUBLIC_BASE_URL: z.url().optional(),
    /** pino level. */
    LOG_LEVEL: LogLevelEnv,
    /** Hard deadline for a graceful shutdown, in ms (keep it below the pod's grace period). */
    SHUTDOWN_TIMEOUT_MS: envInt(25_000, 0),
  };
}

/** Kafka connection. */
export const kafkaEnv = {
  /** Comma list of host:port. */
  KAFKA_BROKERS: z.string().min(1, 'is required (host:port,host:port)'),
  /** Prefix of every topic name. */
  KAFKA_TOPIC_PREFIX: z.string().default('im.'),
  /** Client id in broker logs. */
  KAFKA_CLIENT_ID: z.string().optional(),
  /** Use TLS to the brokers. */
  KAFKA_SSL: envBoolean(false),
  /** SASL mechanism and credentials, when the brokers need them. */
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
};

/** S3-compatible object storage. */
export const s3Env = {
  /** Endpoint for MinIO or another S3-compatible server; unset for AWS S3. */
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().default('us-east-1'),
  /** The platform's bucket (created by the operator). */
  S3_BUCKET: z.string().min(3, 'is required'),
  S3_ACCESS_KEY_ID: z.string().min(1, 'is required'),
  S3_SECRET_ACCESS_KEY: z.string().min(1, 'is required'),
  /** Path-style addressing (MinIO, s3proxy). */
  S3_FORCE_PATH_STYLE: envBoolean(true),
  /** Keep every object under this prefix (several installations in one bucket). */
  S3_KEY_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9._-]+\/)*$/, 'must be empty or end with /')
    .default(''),
};

/** The access-token verification key: the PEM itself, or a file holding it. */
export const jwtPublicKeyEnv = {
  AUTH_JWT_PUBLIC_KEY: z.string().optional(),
  AUTH_JWT_PUBLIC_KEY_FILE: z.string().optional(),
};

/** Reads a PEM given inline (`NAME`) or as a file (`NAME_FILE`); throws naming both when neither is set. */
export function pemFrom(inline: string | undefined, file: string | undefined, name: string): string {
  if (inline) return inline.replace(/\\n/g, '\n');
  if (file) return fs.readFileSync(file, 'utf8');
  throw new Error(`Set ${name} (the PEM) or ${name}_FILE (a file holding it).`);
}

export function kafkaOptions(e: z.infer<z.ZodObject<typeof kafkaEnv>>, clientId: string) {
  return {
    brokers: e.KAFKA_BROKERS.split(',').map((s) => s.trim()),
    clientId: e.KAFKA_CLIENT_ID ?? clientId,
    topicPrefix: e.KAFKA_TOPIC_PREFIX,
    ssl: e.KAFKA_SSL,
    ...(e.KAFKA_SASL_MECHANISM && e.KAFKA_SASL_USERNAME && e.KAFKA_SASL_PASSWORD
      ? {
          sasl: {
            mechanism: e.KAFKA_SASL_MECHANISM,
            username: e.KAFKA_SASL_USERNAME,
            password: e.KAFKA_SASL_PASSWORD,
          },
        }
      : {}),
  };
}

export function s3Options(e: z.infer<z.ZodObject<typeof s3Env>>) {
  return {
    ...(e.S3_ENDPOINT ? { endpoint: e.S3_ENDPOINT } : {}),
    region: e.S3_REGION,
    bucket: e.S3_BUCKET,
    accessKeyId: e.S3_ACCESS_KEY_ID,
    secretAccessKey: e.S3_SECRET_ACCESS_KEY,
    forcePathStyle: e.S3_FORCE_PATH_STYLE,
    keyPrefix: e.S3_KEY_PREFIX,
  };
}
