import { randomBytes } from 'node:crypto';

export interface InfraEnv {
  pgUrl: string;
  kafkaBrokers: string[];
  s3: { endpoint: string; accessKeyId: string; secretAccessKey: string; bucket: string; region: string };
}

/**
 * The real PostgreSQL, Kafka and S3 server that `npm test` starts (scripts/infra). Integration tests
 * fail, never skip, when they are missing: run them through `npm test`, or start the infrastructure
 * with `scripts/infra/up.sh` and `. .infra/env` first.
 */
export function infraEnv(): InfraEnv {
  const need = (name: string) => {
    const v = process.env[name];
    if (!v)
      throw new Error(
        `${name} is not set: run integration tests with "npm test", or "scripts/infra/up.sh && . .infra/env" first.`,
      );
    return v;
  };
  return {
    pgUrl: need('PG_URL'),
    kafkaBrokers: need('KAFKA_BROKERS').split(','),
    s3: {
      endpoint: need('S3_ENDPOINT'),
      accessKeyId: need('S3_ACCESS_KEY'),
      secretAccessKey: need('S3_SECRET_KEY'),
      bucket: need('S3_BUCKET'),
      region: process.env.S3_REGION ?? 'us-east-1',
    },
  };
}

/** A name unique to this test run, for schemas, topic prefixes, groups and key prefixes. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}
