import type { JobProgress, UserChanged } from '@im/contracts';
import { silentLogger } from '@im/logging';
import { infraEnv, uniqueName, waitFor, type KafkaUserRole } from '@im/testing';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaEventBus } from './kafka-bus';

const progress = (jobId: string): JobProgress => ({
  jobId,
  attempt: 1,
  status: 'RUNNING',
  reason: null,
  returnCode: null,
  currentStep: null,
  runnerId: 'r1',
  occurredAt: new Date(0).toISOString(),
});

/**
 * The broker of scripts/infra (SASL/SCRAM, StandardAuthorizer, allow.everyone.if.no.acl.found=false)
 * with the platform's ACLs on a prefix of this test: each service principal may use its own topics and
 * groups only; a forged record is refused by the broker, and so is a client without credentials.
 */
describe('Kafka principals and ACLs', () => {
  const infra = infraEnv();
  const prefix = `${uniqueName('acl')}.`;
  const buses: KafkaEventBus[] = [];
  const busAs = (role: KafkaUserRole) => {
    const bus = new KafkaEventBus(silentLogger(), {
      brokers: infra.kafkaBrokers,
      sasl: infra.kafkaUser(role),
      clientId: `int-test-${role}`,
      topicPrefix: prefix,
      maxWaitTimeInMs: 200,
    });
    buses.push(bus);
    return bus;
  };
  /** A raw client that gives up at once (kafkajs would retry a refused connection for a while). */
  const rawClient = (sasl?: { mechanism: 'scram-sha-512'; username: string; password: string }) =>
    new Kafka({
      clientId: 'int-test-raw',
      brokers: infra.kafkaBrokers,
      ...(sasl ? { sasl } : {}),
      retry: { retries: 0 },
      connectionTimeout: 3000,
      logLevel: logLevel.NOTHING,
    });

  beforeAll(async () => {
    const admin = new KafkaEventBus(silentLogger(), {
      brokers: infra.kafkaBrokers,
      sasl: infra.kafkaSasl,
      clientId: 'int-test-admin',
      topicPrefix: prefix,
    });
    buses.push(admin);
    await admin.ensureTopics({ partitions: 1, replicationFactor: 1 });
    const roles: KafkaUserRole[] = ['auth', 'jobconfig', 'file-storage', 'job-runner', 'events'];
    const created = await admin.ensureAcls(
      Object.fromEntries(roles.map((r) => [r, infra.kafkaUser(r).username])),
    );
    expect(created).toBeGreaterThan(30);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
  });

  it('lets the runner produce job.progress and jobconfig consume it in its own group', async () => {
    const jobconfig = busAs('jobconfig');
    const seen: string[] = [];
    const sub = await jobconfig.subscribe({
      groupId: 'jobconfig.progress',
      topic: 'job.progress',
      fromBeginning: true,
      handler: async (m) => void seen.push(m.jobId),
    });
    try {
      await busAs('job-runner').publish('job.progress', progress('from-the-runner'));
      await waitFor(() => (seen.includes('from-the-runner') ? true : undefined), {
        timeoutMs: 30_000,
        what: 'the runner’s job.progress record at jobconfig',
      });
    } finally {
      await sub.close();
    }
  }, 60_000);

  it.each<KafkaUserRole>(['jobconfig', 'auth', 'file-storage', 'events'])(
    'refuses a job.progress record forged by the %s principal (TOPIC_AUTHORIZATION_FAILED)',
    async (role) => {
      await expect(busAs(role).publish('job.progress', progress(`forged-by-${role}`))).rejects.toThrow(
        /not authorized to access topics/i,
      );
    },
    30_000,
  );

  it('refuses a user.changes record from anyone but auth', async () => {
    const change: UserChanged = {
      userId: '1',
      accountId: '1',
      name: 'mallory',
      active: true,
      roles: ['admin'],
      change: 'updated',
      changedBy: null,
      occurredAt: new Date(0).toISOString(),
    };
    await expect(busAs('job-runner').publish('user.changes', change)).rejects.toThrow(
      /not authorized to access topics/i,
    );
  }, 30_000);

  it('keeps a service out of another service’s consumer group', async () => {
    // kafkajs reports a refused group as "Failed to find group coordinator" (it hides the broker's
    // GROUP_AUTHORIZATION_FAILED), so the same client is shown to join a group of its own first.
    const outcome = async (groupId: string) => {
      const consumer = rawClient(infra.kafkaUser('job-runner')).consumer({ groupId, maxWaitTimeInMs: 200 });
      const result = new Promise<string>((resolve) => {
        consumer.on(consumer.events.GROUP_JOIN, () => resolve('joined'));
        consumer.on(consumer.events.CRASH, ({ payload }) => resolve(String(payload.error)));
      });
      await consumer.connect();
      try {
        await consumer.subscribe({ topic: `${prefix}job.requests`, fromBeginning: true });
        await consumer.run({ eachMessage: async () => undefined });
        return await result;
      } finally {
        await consumer.disconnect();
      }
    };
    expect(await outcome(`${prefix}job-runner`)).toBe('joined');
    expect(await outcome(`${prefix}jobconfig.progress`)).toMatch(/group coordinator|not authorized/i);
  }, 60_000);

  it('lets event consumers read job.status but write nothing', async () => {
    const events = busAs('events');
    const producer = rawClient(infra.kafkaUser('events')).producer();
    await producer.connect();
    try {
      await expect(
        producer.send({ topic: `${prefix}job.status`, messages: [{ key: 'j', value: '{}' }] }),
      ).rejects.toThrow(/not authorized to access topics/i);
    } finally {
      await producer.disconnect();
    }
    const sub = await events.subscribe({
      groupId: `events.${uniqueName('dash')}`,
      topic: 'job.status',
      handler: async () => undefined,
    });
    await sub.close();
    await expect(
      events.subscribe({ groupId: 'events.requests', topic: 'job.requests', handler: async () => undefined }),
    ).rejects.toThrow(/not authorized/i);
  }, 60_000);

  it('refuses a client without credentials and a wrong password', async () => {
    // Without SASL the broker answers ApiVersions only, then closes the connection.
    const anonymous = rawClient().admin();
    try {
      await expect(anonymous.connect().then(() => anonymous.listTopics())).rejects.toThrow();
    } finally {
      await anonymous.disconnect();
    }
    const wrong = rawClient({ ...infra.kafkaUser('job-runner'), password: 'not-the-password' }).admin();
    try {
      await expect(wrong.connect().then(() => wrong.listTopics())).rejects.toThrow(
        /SASL SCRAM SHA512 authentication failed/i,
      );
    } finally {
      await wrong.disconnect();
    }
  }, 30_000);
});
