import { randomBytes } from 'node:crypto';

/** SASL credentials of one Kafka principal, in the shape kafkajs and the event bus take. */
export interface KafkaSasl {
  mechanism: 'scram-sha-512';
  username: string;
  password: string;
}

/** The Kafka principals scripts/infra creates besides the admin: one per service, and event consumers. */
export type KafkaUserRole = 'auth' | 'jobconfig' | 'file-storage' | 'job-runner' | 'events';

export interface InfraEnv {
  pgUrl: string;
  kafkaBrokers: string[];
  /** The admin principal (a super user: creates topics and ACLs, and what tests need beyond a service). */
  kafkaSasl: KafkaSasl;
  /** Each service's own principal: only what its ACLs allow, once the setup step granted them. */
  kafkaUser(role: KafkaUserRole): KafkaSasl;
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
  const scram = (user: string) => {
    const mechanism = need('KAFKA_SASL_MECHANISM');
    if (mechanism !== 'scram-sha-512')
      throw new Error(`KAFKA_SASL_MECHANISM is ${mechanism}: scripts/infra sets scram-sha-512; rerun it`);
    return { mechanism, username: need(`${user}_USERNAME`), password: need(`${user}_PASSWORD`) } as const;
  };
  return {
    pgUrl: need('PG_URL'),
    kafkaBrokers: need('KAFKA_BROKERS').split(','),
    kafkaSasl: scram('KAFKA_SASL'),
    kafkaUser: (role) => scram(`KAFKA_${role.replace('-', '_').toUpperCase()}`),
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
