import { topicCatalog, topicName, type TopicId, type TopicMessage } from '@im/contracts';
import type { Logger } from '@im/logging';
import { consumeInContext, producerHeaders } from '@im/observability';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
  type Admin,
  type Consumer,
  type Producer,
  type KafkaConfig,
  type LogEntry,
} from 'kafkajs';
import type { EventBus, MessageMeta, OutgoingRecord, SubscribeOptions, Subscription } from './event-bus';
import { busAcls, type BusAcl, type BusRole } from './kafka-acls';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  topicPrefix?: string;
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  maxAttempts?: number;
  retryDelayMs?: number;
  /** Bound on how long disconnects may take: kafkajs can hang while it reconnects. */
  closeTimeoutMs?: number;
  /** Longest a fetch waits for data; short keeps rebalances and hand-offs quick. */
  maxWaitTimeInMs?: number;
  /** How often a member heartbeats while a handler runs (keep it well below the session timeout). */
  heartbeatMs?: number;
  /** A member that does not heartbeat for this long leaves its group (broker minimum: 6000). */
  sessionTimeoutMs?: number;
  /** Wait before a consumer that kafkajs gave up on (a crash it does not restart) is built again. */
  resubscribeDelayMs?: number;
}

function toPinoLevel(level: logLevel): 'error' | 'warn' | 'info' | 'debug' {
  switch (level) {
    case logLevel.ERROR:
    case logLevel.NOTHING:
      return 'error';
    case logLevel.WARN:
      return 'warn';
    case logLevel.INFO:
      return 'info';
    case logLevel.DEBUG:
      return 'debug';
  }
}

/** kafkajs log lines routed into pino. */
function kafkaLogCreator(logger: Logger): KafkaConfig['logCreator'] {
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      logger[toPinoLevel(level)]({ kafka: extra }, message);
    };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);
}

/** The event bus on Apache Kafka. kafkajs stays inside this file. */
export class KafkaEventBus implements EventBus {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  private producer: Producer;
  private producerReady: Promise<void> | undefined;
  private readonly consumers = new Set<Consumer>();
  /** Subscriptions whose consumer crashed and is waiting to be built again (readiness reports them). */
  private readonly crashed = new Set<string>();
  private admin: Admin | undefined;
  private adminReady: Promise<void> | undefined;
  private closing = false;
  private readonly prefix: string;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly closeTimeoutMs: number;
  private readonly maxWaitTimeInMs: number;
  private readonly heartbeatMs: number;
  private readonly sessionTimeoutMs: number;
  private readonly resubscribeDelayMs: number;

  constructor(
    private readonly logger: Logger,
    options: KafkaBusOptions,
  ) {
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      ssl: options.ssl ?? false,
      ...(options.sasl ? { sasl: options.sasl as KafkaConfig['sasl'] } : {}),
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(logger.child({ component: 'kafkajs' })),
    });
    this.producer = this.newProducer();
    this.prefix = options.topicPrefix ?? 'im.';
    this.maxAttempts = options.maxAttempts ?? 5;
    this.retryDelayMs = options.retryDelayMs ?? 200;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    this.maxWaitTimeInMs = options.maxWaitTimeInMs ?? 500;
    this.heartbeatMs = options.heartbeatMs ?? 3000;
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 30_000;
    this.resubscribeDelayMs = options.resubscribeDelayMs ?? 5000;
  }

  get client(): Kafka {
    return this.kafka;
  }

  /** Creates the catalog's topics (and their dead-letter topics) that do not exist yet. */
  async ensureTopics(options: { partitions: number; replicationFactor: number }): Promise<string[]> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const wanted = (Object.keys(topicCatalog) as TopicId[]).flatMap((id) => {
        const name = topicName(id, this.prefix);
        return [name, `${name}.dlq`];
      });
      const missing = wanted.filter((t) => !existing.has(t));
      if (missing.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: options.partitions,
            replicationFactor: options.replicationFactor,
          })),
        });
      }
      return missing;
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Grants each given Kafka user the ACLs of its role on this installation's topics and groups
   * (see {@link busAcls}); creating an ACL that exists changes nothing. Needs a principal that may
   * alter ACLs (the setup step's, never a service's). Returns how many bindings were sent.
   */
  async ensureAcls(users: Partial<Record<BusRole, string>>): Promise<number> {
    const acl = busAcls(this.prefix, users).map(toKafkaAcl);
    if (acl.length === 0) return 0;
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await admin.createAcls({ acl });
      // The broker authorizes from its copy of the metadata: wait until it shows every binding, so a
      // service started right after this step is not refused.
      const key = (
        r: { resourceType: number; resourceName: string; resourcePatternType: number },
        op: number,
      ) => `${r.resourceType}|${r.resourceName}|${r.resourcePatternType}|${op}`;
      const deadline = Date.now() + 15_000;
      for (const principal of new Set(acl.map((a) => a.principal))) {
        const wanted = acl.filter((a) => a.principal === principal).map((a) => key(a, a.operation));
        for (;;) {
          const { resources } = await admin.describeAcls({
            principal,
            resourceType: AclResourceTypes.ANY,
            resourcePatternType: ResourcePatternTypes.ANY,
            operation: AclOperationTypes.ANY,
            permissionType: AclPermissionTypes.ANY,
          });
          const shown = new Set(resources.flatMap((r) => r.acls.map((a) => key(r, a.operation))));
          if (wanted.every((k) => shown.has(k))) break;
          if (Date.now() > deadline) throw new Error(`the broker does not show the ACLs of ${principal} yet`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      return acl.length;
    } finally {
      await admin.disconnect();
    }
  }

  private newProducer(): Producer {
    return this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
  }

  /**
   * Sends with the producer. When the broker refuses the producer's idempotence state (an out-of-order
   * sequence number after a broker restart, an unknown producer id or a fenced epoch), kafkajs never
   * recovers that producer: every later send fails the same way (kafkajs issue #598), which stalled
   * the outbox for good in the Kafka-outage fault scenario. The producer is then replaced by a new one
   * (a new producer id, sequences from 0) and the send tried once more: the refused batch was not
   * written, so nothing is duplicated.
   */
  private async send(fn: (producer: Producer) => Promise<unknown>): Promise<void> {
    await this.ready();
    const producer = this.producer;
    try {
      await fn(producer);
    } catch (err) {
      if (!producerStateRefused(err)) throw err;
      if (this.producer === producer) {
        this.logger.warn(
          { err },
          "the broker refused the producer's sequence state (after a broker restart); starting a new producer",
        );
        this.producer = this.newProducer();
        this.producerReady = undefined;
        void withTimeout(producer.disconnect(), this.closeTimeoutMs).catch(() => undefined);
      }
      await this.ready();
      await fn(this.producer);
    }
  }

  private ready(): Promise<void> {
    // A failed connect is not kept: the next publish tries again (Kafka down at start-up, then back).
    this.producerReady ??= this.producer.connect().catch((err: unknown) => {
      this.producerReady = undefined;
      throw err;
    });
    return this.producerReady;
  }

  /**
   * One Metadata request on an admin connection kept for the purpose (kafkajs reconnects it after a
   * broker restart), without retries; fails too while a subscription's consumer is down.
   */
  async ping(): Promise<void> {
    if (this.closing) throw new Error('the event bus is closed');
    if (!this.admin) this.admin = this.kafka.admin({ retry: { retries: 0 } });
    const admin = this.admin;
    this.adminReady ??= admin.connect().catch((err: unknown) => {
      this.adminReady = undefined;
      throw err;
    });
    await this.adminReady;
    await admin.describeCluster();
    if (this.crashed.size > 0) throw new Error(`consumer down: ${[...this.crashed].join(', ')}`);
  }

  async publish<T extends TopicId>(
    topic: T,
    message: TopicMessage<T>,
    headers: Record<string, string> = {},
  ): Promise<void> {
    const entry = topicCatalog[topic];
    const value = entry.schema.parse(message);
    const key = (entry.key as (v: unknown) => string)(value);
    await this.send((producer) =>
      producer.send({
        topic: topicName(topic, this.prefix),
        acks: -1,
        messages: [{ key, value: JSON.stringify(value), headers: producerHeaders(headers) }],
      }),
    );
  }

  async publishAll(records: readonly OutgoingRecord[]): Promise<void> {
    const topicMessages = records.map((r) => {
      const entry = topicCatalog[r.topic];
      const value = entry.schema.parse(r.message);
      const key = (entry.key as (v: unknown) => string)(value);
      return {
        topic: topicName(r.topic, this.prefix),
        messages: [{ key, value: JSON.stringify(value), headers: producerHeaders(r.headers ?? {}) }],
      };
    });
    await this.send((producer) => producer.sendBatch({ acks: -1, topicMessages }));
  }

  async subscribe<T extends TopicId>(options: SubscribeOptions<T>): Promise<Subscription> {
    const name = topicName(options.topic, this.prefix);
    const groupId = `${this.prefix}${options.groupId}`;
    const label = `${groupId}/${name}`;
    let current: Consumer | undefined;
    let closed = false;
    let retry: NodeJS.Timeout | undefined;
    // kafkajs restarts a consumer after retriable errors by itself; after any other crash the consumer
    // stays disconnected. Such a consumer is built again here, never left dead silently.
    const start = async (): Promise<void> => {
      const consumer = this.consumer(options, name, groupId);
      current = consumer;
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (payload.restart || closed || this.closing) return;
        this.crashed.add(label);
        this.consumers.delete(consumer);
        this.logger.error(
          { err: payload.error, topic: name, groupId, retryInMs: this.resubscribeDelayMs },
          'consumer crashed and kafkajs gave up on it; subscribing again',
        );
        const again = () => {
          retry = undefined;
          if (closed || this.closing) return;
          start().then(
            () => {
              this.crashed.delete(label);
              this.logger.info({ topic: name, groupId }, 'consumer subscribed again');
            },
            (err: unknown) => {
              this.logger.error({ err, topic: name, groupId }, 'subscribing again failed; retrying');
              retry = setTimeout(again, this.resubscribeDelayMs);
            },
          );
        };
        retry = setTimeout(again, this.resubscribeDelayMs);
      });
      try {
        await consumer.connect();
        await consumer.subscribe({ topic: name, fromBeginning: options.fromBeginning ?? false });
        this.consumers.add(consumer);
        await this.run(consumer, options, name, () => closed || this.closing);
      } catch (err) {
        await withTimeout(
          consumer.disconnect().catch(() => undefined),
          this.closeTimeoutMs,
        );
        throw err;
      }
    };
    await start();
    return {
      close: async () => {
        closed = true;
        clearTimeout(retry);
        this.crashed.delete(label);
        if (!current) return;
        this.consumers.delete(current);
        await withTimeout(current.disconnect(), this.closeTimeoutMs);
      },
    };
  }

  private consumer<T extends TopicId>(options: SubscribeOptions<T>, name: string, groupId: string): Consumer {
    return this.kafka.consumer({
      // Prefixed like the topics, so installations (or test runs) sharing a cluster never share a group.
      groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: this.maxWaitTimeInMs,
      sessionTimeout: this.sessionTimeoutMs,
    });
  }

  private async run<T extends TopicId>(
    consumer: Consumer,
    options: SubscribeOptions<T>,
    name: string,
    isClosed: () => boolean,
  ): Promise<void> {
    const schema = topicCatalog[options.topic].schema;
    await consumer.run({
      autoCommit: true,
      partitionsConsumedConcurrently: options.concurrency ?? 1,
      eachMessage: async (payload) => {
        const { message, partition } = payload;
        const key = message.key?.toString() ?? '';
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {}))
          if (v !== undefined) headers[k] = v.toString();
        const meta: MessageMeta = { topic: name, key, partition, headers };
        let parsed: { success: true; data: unknown } | { success: false; error: unknown };
        try {
          parsed = schema.safeParse(JSON.parse(message.value?.toString() ?? 'null'));
        } catch (error) {
          parsed = { success: false, error };
        }
        if (!parsed.success) {
          await this.deadLetter(name, message.key, message.value, headers, 'schema', String(parsed.error));
          return;
        }
        // A long handler (a job) keeps the member alive in its group.
        const beat = setInterval(() => void payload.heartbeat().catch(() => undefined), this.heartbeatMs);
        try {
          await consumeInContext(name, options.groupId, headers, () =>
            this.handle(
              options,
              parsed.data as TopicMessage<T>,
              meta,
              message.key,
              message.value,
              headers,
              isClosed,
            ),
          );
        } finally {
          clearInterval(beat);
        }
      },
    });
  }

  private async handle<T extends TopicId>(
    options: SubscribeOptions<T>,
    data: TopicMessage<T>,
    meta: MessageMeta,
    key: Buffer | null,
    value: Buffer | null,
    headers: Record<string, string>,
    isClosed: () => boolean,
  ): Promise<void> {
    const name = meta.topic;
    let transient = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        await options.handler(data, meta);
        if (transient > 0) this.logger.info({ topic: name, key: meta.key, transient }, 'handler works again');
        return;
      } catch (err) {
        if (options.isTransient?.(err)) {
          // A dependency is down (the database, the broker): wait for it instead of dead-lettering.
          // On close the record is left uncommitted, for the group's next member.
          if (isClosed()) throw err;
          transient++;
          attempt--;
          if (transient === 1 || transient % 20 === 0)
            this.logger.warn(
              { err, topic: name, key: meta.key, transient },
              'handler failed on a dependency that is down; retrying until it is back',
            );
          await new Promise((r) =>
            setTimeout(r, Math.min(5000, this.retryDelayMs * 2 ** Math.min(transient, 5))),
          );
          continue;
        }
        if (attempt >= this.maxAttempts) {
          this.logger.error(
            { err, topic: name, key: meta.key, attempts: attempt },
            'handler kept failing; dead-lettering',
          );
          await this.deadLetter(name, key, value, headers, 'handler', String(err));
          return;
        }
        this.logger.warn({ err, topic: name, key: meta.key, attempt }, 'handler failed; retrying');
        await new Promise((r) => setTimeout(r, this.retryDelayMs * 2 ** (attempt - 1)));
      }
    }
  }

  private async deadLetter(
    topic: string,
    key: Buffer | null,
    value: Buffer | null,
    headers: Record<string, string>,
    cause: string,
    error: string,
  ): Promise<void> {
    await this.send((producer) =>
      producer.send({
        topic: `${topic}.dlq`,
        messages: [
          { key, value, headers: { ...headers, 'x-dlq-cause': cause, 'x-dlq-error': error.slice(0, 1000) } },
        ],
      }),
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.consumers].map((c) => withTimeout(c.disconnect(), this.closeTimeoutMs)));
    this.consumers.clear();
    this.crashed.clear();
    if (this.producerReady) await withTimeout(this.producer.disconnect(), this.closeTimeoutMs);
    if (this.admin && this.adminReady)
      await withTimeout(
        this.admin.disconnect().catch(() => undefined),
        this.closeTimeoutMs,
      );
  }
}

const ACL_OPERATIONS = {
  read: AclOperationTypes.READ,
  write: AclOperationTypes.WRITE,
  delete: AclOperationTypes.DELETE,
} as const;

function toKafkaAcl(a: BusAcl) {
  return {
    principal: a.principal,
    host: '*',
    resourceType: a.resourceType === 'topic' ? AclResourceTypes.TOPIC : AclResourceTypes.GROUP,
    resourceName: a.resourceName,
    resourcePatternType:
      a.pattern === 'prefixed' ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
    operation: ACL_OPERATIONS[a.operation],
    permissionType: AclPermissionTypes.ALLOW,
  };
}

/** Broker answers that mean the producer's idempotence state is gone: only a new producer helps. */
const PRODUCER_STATE_ERRORS = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
]);

/** True when `err` (or what it wraps: kafkajs nests the broker's error) is one of those answers. */
export function producerStateRefused(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 5) return false;
  const e = err as {
    type?: unknown;
    message?: unknown;
    cause?: unknown;
    originalError?: unknown;
    errors?: unknown;
  };
  if (typeof e.type === 'string' && PRODUCER_STATE_ERRORS.has(e.type)) return true;
  if (typeof e.message === 'string' && /out of order sequence number/i.test(e.message)) return true;
  const nested: unknown[] = [
    e.cause,
    e.originalError,
    ...(Array.isArray(e.errors) ? (e.errors as unknown[]) : []),
  ];
  return nested.some((n) => producerStateRefused(n, depth + 1));
}
