import { topicName, type JobProgress } from '@im/contracts';
import { silentLogger } from '@im/logging';
import { infraEnv, uniqueName, waitFor } from '@im/testing';
import { KafkaEventBus } from './kafka-bus';

const progress = (jobId: string, step: string): JobProgress => ({
  jobId,
  attempt: 1,
  status: 'RUNNING',
  reason: null,
  returnCode: null,
  currentStep: step,
  runnerId: 'r1',
  occurredAt: new Date(0).toISOString(),
});

/** The Kafka adapter against the real broker that scripts/infra starts (Apache Kafka 4.1, KRaft). */
describe('KafkaEventBus', () => {
  const prefix = `${uniqueName('t')}.`;
  let bus: KafkaEventBus;

  beforeAll(async () => {
    bus = new KafkaEventBus(silentLogger(), {
      brokers: infraEnv().kafkaBrokers,
      sasl: infraEnv().kafkaSasl,
      clientId: 'int-test',
      topicPrefix: prefix,
      maxAttempts: 2,
      retryDelayMs: 10,
    });
    const created = await bus.ensureTopics({ partitions: 3, replicationFactor: 1 });
    expect(created).toContain(topicName('job.progress', prefix));
    expect(created).toContain(`${topicName('job.progress', prefix)}.dlq`);
  }, 60_000);

  afterAll(async () => {
    await bus.close();
  });

  it('answers ping on one kept admin connection; a bus on a closed port fails it', async () => {
    await expect(bus.ping()).resolves.toBeUndefined();
    await expect(bus.ping()).resolves.toBeUndefined();
    const nowhere = new KafkaEventBus(silentLogger(), {
      brokers: ['127.0.0.1:1'],
      clientId: 'int-test-nowhere',
      topicPrefix: prefix,
    });
    await expect(nowhere.ping()).rejects.toThrow();
    await nowhere.close();
  });

  it('names consumer groups with the topic prefix, so installations sharing a cluster never share a group', async () => {
    const group = uniqueName('grp');
    const sub = await bus.subscribe({
      groupId: group,
      topic: 'file.changes',
      handler: async () => undefined,
    });
    try {
      const admin = bus.client.admin();
      await admin.connect();
      try {
        // The member joins in the background: wait until the broker lists its group.
        const ids = await waitFor(
          async () => {
            const { groups } = await admin.listGroups();
            const all = groups.map((g) => g.groupId);
            return all.includes(`${prefix}${group}`) ? all : undefined;
          },
          { timeoutMs: 30_000, what: 'the group to be listed' },
        );
        expect(ids).not.toContain(group);
      } finally {
        await admin.disconnect();
      }
    } finally {
      await sub.close();
    }
  });

  // Topics of their own: other tests here read file.changes and job.progress from the beginning and count.
  it('publishes records for several topics in one call, each delivered with its key', async () => {
    const cancels: string[] = [];
    const changes: string[] = [];
    const subC = await bus.subscribe({
      groupId: uniqueName('all-c'),
      topic: 'job.cancel',
      fromBeginning: true,
      handler: async (m) => void cancels.push(m.jobId),
    });
    const subF = await bus.subscribe({
      groupId: uniqueName('all-f'),
      topic: 'jobconfig.changes',
      fromBeginning: true,
      handler: async (m) => void changes.push(m.jobConfigId),
    });
    try {
      const at = new Date().toISOString();
      const job = uniqueName('job');
      await bus.publishAll([
        { topic: 'job.cancel', message: { jobId: job, attempt: 1, stoppedByUserId: 'u', requestedAt: at } },
        {
          topic: 'jobconfig.changes',
          message: { jobConfigId: job, ownerId: 'u', name: 'n', change: 'created', occurredAt: at },
        },
      ]);
      await waitFor(() => (cancels.includes(job) && changes.includes(job) ? true : undefined), {
        timeoutMs: 30_000,
        what: 'both records',
      });
      await expect(
        bus.publishAll([{ topic: 'job.cancel', message: { jobId: '' } as never }]),
      ).rejects.toThrow();
    } finally {
      await subC.close();
      await subF.close();
    }
  });

  it('replaces a producer whose sequence state the broker refuses, and still delivers (kafkajs never recovers one)', async () => {
    const seen: string[] = [];
    const sub = await bus.subscribe({
      groupId: uniqueName('seq'),
      topic: 'job.cancel',
      fromBeginning: true,
      handler: async (m) => void seen.push(m.jobId),
    });
    try {
      const at = new Date().toISOString();
      const cancel = (jobId: string) => ({ jobId, attempt: 1, stoppedByUserId: 'u', requestedAt: at });
      const first = uniqueName('job');
      await bus.publish('job.cancel', cancel(first));
      // The broker's answer after a restart lost the producer's state, as kafkajs raises it, wrapped.
      const internals = bus as unknown as { producer: { send: (...a: unknown[]) => Promise<unknown> } };
      const stale = internals.producer;
      const refused = Object.assign(new Error('The broker received an out of order sequence number'), {
        name: 'KafkaJSProtocolError',
        type: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
        code: 45,
        retriable: false,
      });
      stale.send = async () => {
        throw Object.assign(new Error(refused.message), { name: 'KafkaJSNonRetriableError', cause: refused });
      };
      const second = uniqueName('job');
      await bus.publish('job.cancel', cancel(second));
      expect(internals.producer).not.toBe(stale);
      const third = uniqueName('job');
      await bus.publishAll([{ topic: 'job.cancel', message: cancel(third) }]);
      await waitFor(() => ([first, second, third].every((j) => seen.includes(j)) ? true : undefined), {
        timeoutMs: 30_000,
        what: 'the three records',
      });
      // Any other failure is the caller's to retry, with the same producer.
      const current = internals.producer;
      const working = current.send;
      current.send = async () => {
        throw new Error('Connection error: connect ECONNREFUSED');
      };
      try {
        await expect(bus.publish('job.cancel', cancel(uniqueName('job')))).rejects.toThrow(/ECONNREFUSED/);
        expect(internals.producer).toBe(current);
      } finally {
        current.send = working;
      }
    } finally {
      await sub.close();
    }
  });

  it('creates topics once (a second run creates nothing)', async () => {
    expect(await bus.ensureTopics({ partitions: 3, replicationFactor: 1 })).toEqual([]);
  });

  it('delivers each key in order to every consumer group, and dead-letters a poison record', async () => {
    const groupA: string[] = [];
    const groupB: string[] = [];
    const subA = await bus.subscribe({
      groupId: uniqueName('a'),
      topic: 'job.progress',
      fromBeginning: true,
      handler: async (m) => {
        if (m.currentStep === 'poison') throw new Error('cannot handle this one');
        groupA.push(`${m.jobId}:${m.currentStep}`);
      },
    });
    const subB = await bus.subscribe({
      groupId: uniqueName('b'),
      topic: 'job.progress',
      fromBeginning: true,
      handler: async (m) => void groupB.push(`${m.jobId}:${m.currentStep}`),
    });
    const dlq: string[] = [];
    const consumer = bus.client.consumer({ groupId: uniqueName('dlq'), maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic: `${topicName('job.progress', prefix)}.dlq`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => void dlq.push(String(message.headers?.['x-dlq-cause'])),
    });

    const expected: string[] = [];
    for (const job of ['j1', 'j2', 'j3']) {
      for (let i = 0; i < 5; i++) {
        await bus.publish('job.progress', progress(job, String(i)));
        expected.push(`${job}:${i}`);
      }
    }
    await bus.publish('job.progress', progress('j1', 'poison'));
    await bus.publish('job.progress', progress('j1', 'after'));

    await waitFor(
      () => (groupA.length === 16 && groupB.length === 17 && dlq.length === 1 ? true : undefined),
      { timeoutMs: 45_000, what: 'all records' },
    );
    for (const job of ['j1', 'j2', 'j3']) {
      expect(groupA.filter((x) => x.startsWith(`${job}:`)).slice(0, 5)).toEqual(
        expected.filter((x) => x.startsWith(`${job}:`)),
      );
    }
    expect(groupA).toContain('j1:after');
    expect(groupB).toContain('j1:poison');
    expect(dlq).toEqual(['handler']);
    await Promise.all([subA.close(), subB.close(), consumer.disconnect()]);
  }, 60_000);

  it('retries a handler failing on a dependency that is down until it is back, instead of dead-lettering', async () => {
    const seen: string[] = [];
    const tried: string[] = [];
    let down = 6; // more failures than maxAttempts (2) allows for other errors
    const dependencyDown = Object.assign(new Error('connect ECONNREFUSED'), { transient: true });
    const sub = await bus.subscribe({
      groupId: uniqueName('transient'),
      topic: 'job.progress',
      fromBeginning: false,
      isTransient: (err) => (err as { transient?: boolean }).transient === true,
      handler: async (m) => {
        if (m.jobId !== 'transient-job') return;
        tried.push(String(m.currentStep));
        if (down-- > 0) throw dependencyDown;
        seen.push(String(m.currentStep));
      },
    });
    // Subscribed from the end: published until the group has its partitions and sees one.
    let n = 0;
    await waitFor(
      async () => {
        await bus.publish('job.progress', progress('transient-job', `probe-${++n}`));
        return seen.length > 0 ? true : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 1000, what: 'the handler to get through' },
    );
    expect(down).toBeLessThan(0);
    // The first record the handler got is the one that got through: it was not dead-lettered.
    expect(tried.slice(0, 7)).toEqual(Array(7).fill(tried[0]));
    expect(seen[0]).toBe(tried[0]);
    await sub.close();
  }, 60_000);

  it('keeps a member in its group while a handler runs longer than the session timeout (no redelivery)', async () => {
    const slow = new KafkaEventBus(silentLogger(), {
      brokers: infraEnv().kafkaBrokers,
      sasl: infraEnv().kafkaSasl,
      clientId: 'int-test-slow',
      topicPrefix: prefix,
      sessionTimeoutMs: 6000,
      heartbeatMs: 1000,
    });
    const handled: string[] = [];
    let finishFirst!: () => void;
    const firstDone = new Promise<void>((r) => (finishFirst = r));
    const sub = await slow.subscribe({
      groupId: uniqueName('slow'),
      topic: 'job.cancel',
      fromBeginning: true,
      handler: async (m) => {
        handled.push(m.jobId);
        if (m.jobId === 'long') {
          // A job that outlives the session timeout.
          await new Promise((r) => setTimeout(r, 9000));
          finishFirst();
        }
      },
    });
    try {
      const cancel = (jobId: string) => ({
        jobId,
        attempt: 1,
        stoppedByUserId: '1',
        requestedAt: new Date().toISOString(),
      });
      await slow.publish('job.cancel', cancel('long'));
      await firstDone;
      await slow.publish('job.cancel', cancel('marker'));
      await waitFor(() => (handled.includes('marker') ? true : undefined), {
        timeoutMs: 30_000,
        what: 'the marker record',
      });
      expect(handled.filter((x) => x === 'long')).toHaveLength(1);
    } finally {
      await sub.close();
      await slow.close();
    }
  }, 60_000);

  it('rebalances a group when a second consumer joins: work is shared, nothing lost or handled twice', async () => {
    const group = uniqueName('rebalance');
    const second = new KafkaEventBus(silentLogger(), {
      brokers: infraEnv().kafkaBrokers,
      sasl: infraEnv().kafkaSasl,
      clientId: 'int-test-b',
      topicPrefix: prefix,
    });
    const byA: string[] = [];
    const byB: string[] = [];
    const change = (key: string) => ({
      jobConfigId: key,
      key: 'f',
      change: 'stored' as const,
      size: 1,
      sha256: 'x',
      occurredAt: new Date().toISOString(),
    });
    const subA = await bus.subscribe({
      groupId: group,
      topic: 'file.changes',
      fromBeginning: true,
      handler: async (m) => void byA.push(m.jobConfigId),
    });
    const published: string[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        published.push(`k${i}`);
        await bus.publish('file.changes', change(`k${i}`));
      }
      await waitFor(() => (byA.length === 10 ? true : undefined), {
        timeoutMs: 30_000,
        what: 'the first member to take all records',
      });
      const subB = await second.subscribe({
        groupId: group,
        topic: 'file.changes',
        fromBeginning: true,
        handler: async (m) => void byB.push(m.jobConfigId),
      });
      try {
        // Keep publishing, each record with a new key, until the new member has been given partitions.
        await waitFor(
          async () => {
            const key = `k${published.length}`;
            published.push(key);
            await bus.publish('file.changes', change(key));
            return byB.length > 0 ? true : undefined;
          },
          { timeoutMs: 45_000, intervalMs: 200, what: 'the second member to receive records' },
        );
        await waitFor(() => (byA.length + byB.length >= published.length ? true : undefined), {
          timeoutMs: 30_000,
          what: 'every record',
        });
        expect([...byA, ...byB].sort()).toEqual([...published].sort());
        expect(byA.filter((k) => byB.includes(k))).toEqual([]);
      } finally {
        await subB.close();
      }
    } finally {
      await subA.close();
      await second.close();
    }
  }, 90_000);
});
