import { z } from '@im/contracts';
import * as fs from 'node:fs';
import { ConfigError, envBoolean, envInt, envPort, envTrustedProxies, LogLevelEnv } from './env';

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

/**
 * A service behind the gateway (auth, jobconfig, file-storage): the gateway's addresses. Only a request
 * coming straight from one of them may say who the client is (the last `X-Forwarded-For` entry, which
 * the gateway sets); from anyone else the peer's own address counts. Default: nobody.
 */
export const serviceTrustProxyEnv = {
  /** The gateway's addresses or ranges (`10.0.0.0/8`, `loopback`); empty: believe no X-Forwarded-For. */
  HTTP_TRUST_PROXY: envTrustedProxies(),
};

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
  /** SASL mechanism (scram-sha-512 in the reference setup), when the brokers need SASL: then all of them. */
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  /** This service's own Kafka principal (its ACLs allow only its topics and groups). */
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  /** Its password, or KAFKA_SASL_PASSWORD_FILE: a file holding it (a mounted Secret). Never logged. */
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD_FILE: z.string().min(1).optional(),
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

/**
 * How a service verifies access tokens: against the auth service's JWKS (`AUTH_JWKS_URL`, one process
 * per service), or against a public key given here (`AUTH_JWT_PUBLIC_KEY` / `_FILE`: tests, one process).
 */
export const jwtVerifyEnv = {
  /** The auth service's key set, e.g. http://auth:8081/api/.well-known/jwks.json (wins over the public key). */
  AUTH_JWKS_URL: z.url().optional(),
  /** PEM of the verification key (or AUTH_JWT_PUBLIC_KEY_FILE), when there is no AUTH_JWKS_URL. */
  AUTH_JWT_PUBLIC_KEY: z.string().optional(),
  AUTH_JWT_PUBLIC_KEY_FILE: z.string().optional(),
  /** The one signing algorithm accepted: RS256 (RSA keys) or ES256 (EC P-256 keys). */
  AUTH_JWT_ALGORITHM: z.enum(['RS256', 'ES256']).default('RS256'),
  /** Leeway on a token's exp and nbf for clock drift between hosts, seconds. */
  AUTH_JWT_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
  /** How long a fetched JWKS key stays cached, seconds (an unknown kid fetches the set at once). */
  AUTH_JWKS_CACHE_SECONDS: z.coerce.number().int().min(1).default(600),
};
/** @deprecated the old name of {@link jwtVerifyEnv}. */
export const jwtPublicKeyEnv = jwtVerifyEnv;

/**
 * The verification settings of {@link jwtVerifyEnv}, in the shape `createAuthenticator` takes;
 * `jwksHeaders` go with every JWKS fetch (the internal token: the auth service's port wants it).
 */
export function tokenVerificationFrom(
  e: z.infer<z.ZodObject<typeof jwtVerifyEnv>>,
  jwksHeaders?: Record<string, string>,
): ({ jwksUrl: string; jwksHeaders?: Record<string, string> } | { publicKeys: string[] }) & {
  algorithm: 'RS256' | 'ES256';
  clockToleranceSeconds: number;
  cacheMaxAgeMs: number;
} {
  const common = {
    algorithm: e.AUTH_JWT_ALGORITHM,
    clockToleranceSeconds: e.AUTH_JWT_CLOCK_TOLERANCE_SECONDS,
    cacheMaxAgeMs: e.AUTH_JWKS_CACHE_SECONDS * 1000,
  };
  if (e.AUTH_JWKS_URL)
    return { jwksUrl: e.AUTH_JWKS_URL, ...(jwksHeaders ? { jwksHeaders } : {}), ...common };
  if (!e.AUTH_JWT_PUBLIC_KEY && !e.AUTH_JWT_PUBLIC_KEY_FILE)
    throw new ConfigError(
      "Invalid configuration; fix these environment variables:\n  AUTH_JWKS_URL: is required (the auth service's /api/.well-known/jwks.json), or set AUTH_JWT_PUBLIC_KEY / AUTH_JWT_PUBLIC_KEY_FILE",
    );
  return {
    publicKeys: [pemFrom(e.AUTH_JWT_PUBLIC_KEY, e.AUTH_JWT_PUBLIC_KEY_FILE, 'AUTH_JWT_PUBLIC_KEY')],
    ...common,
  };
}

/** Reads PEMs given inline (`NAME`) or as a file (`NAME_FILE`), several blocks in one value; none when unset. */
export function pemsFrom(inline: string | undefined, file: string | undefined): string[] {
  const text = inline ? inline.replace(/\\n/g, '\n') : file ? fs.readFileSync(file, 'utf8') : '';
  return (text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? []).map((b) => `${b}\n`);
}

/** Reads a PEM given inline (`NAME`) or as a file (`NAME_FILE`); throws naming both when neither is set. */
export function pemFrom(inline: string | undefined, file: string | undefined, name: string): string {
  if (inline) return inline.replace(/\\n/g, '\n');
  if (file) return fs.readFileSync(file, 'utf8');
  throw new Error(`Set ${name} (the PEM) or ${name}_FILE (a file holding it).`);
}

export function kafkaOptions(e: z.infer<z.ZodObject<typeof kafkaEnv>>, clientId: string) {
  const sasl = kafkaSasl(e);
  return {
    brokers: e.KAFKA_BROKERS.split(',').map((s) => s.trim()),
    clientId: e.KAFKA_CLIENT_ID ?? clientId,
    topicPrefix: e.KAFKA_TOPIC_PREFIX,
    ssl: e.KAFKA_SSL,
    ...(sasl ? { sasl } : {}),
  };
}

/**
 * The SASL settings: none when no KAFKA_SASL_* variable is set, all three (mechanism, user name, one
 * password) otherwise; a partial set is refused rather than silently connecting without SASL.
 */
function kafkaSasl(e: z.infer<z.ZodObject<typeof kafkaEnv>>) {
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username } = e;
  const passwordFile = e.KAFKA_SASL_PASSWORD_FILE;
  if (!mechanism && !username && !e.KAFKA_SASL_PASSWORD && !passwordFile) return undefined;
  const problems: string[] = [];
  if (!mechanism) problems.push('KAFKA_SASL_MECHANISM: is required when a SASL user name or password is set');
  if (!username) problems.push('KAFKA_SASL_USERNAME: is required with KAFKA_SASL_MECHANISM');
  if (e.KAFKA_SASL_PASSWORD && passwordFile)
    problems.push(
      'KAFKA_SASL_PASSWORD_FILE: set either KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both',
    );
  let password = e.KAFKA_SASL_PASSWORD;
  if (!password && passwordFile) {
    try {
      password = fs.readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(
        `KAFKA_SASL_PASSWORD_FILE: cannot read ${passwordFile} (${(err as NodeJS.ErrnoException).code})`,
      );
    }
    if (password === '') problems.push(`KAFKA_SASL_PASSWORD_FILE: ${passwordFile} is empty`);
  } else if (!password) {
    problems.push('KAFKA_SASL_PASSWORD: is required with KAFKA_SASL_MECHANISM (or KAFKA_SASL_PASSWORD_FILE)');
  }
  if (problems.length > 0 || !mechanism || !username || !password)
    throw new ConfigError(
      `Invalid configuration; fix these environment variables:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
  return { mechanism, username, password };
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
