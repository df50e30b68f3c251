import type { TopicId, TopicMessage } from '@im/contracts';

export interface MessageMeta {
  topic: string;
  key: string;
  partition: number;
  headers: Record<string, string>;
}

export type MessageHandler<T extends TopicId> = (
  message: TopicMessage<T>,
  meta: MessageMeta,
) => Promise<void>;

export interface SubscribeOptions<T extends TopicId> {
  /** Consumers of one group share the topic's partitions; each group sees every message once. */
  groupId: string;
  topic: T;
  handler: MessageHandler<T>;
  /** Start a new group at the oldest retained message instead of at the end. */
  fromBeginning?: boolean;
  /**
   * Partitions handled at the same time by this member (Kafka: partitionsConsumedConcurrently). The
   * in-process bus always handles its partitions concurrently.
   */
  concurrency?: number;
  /**
   * Errors that mean a dependency is down (a database, the broker), not that the record is bad: the
   * handler is retried, backing off to 5 s, until it succeeds or the subscription closes, instead of
   * going to the dead-letter topic after a few attempts.
   */
  isTransient?: (err: unknown) => boolean;
}

/** One record to publish, for {@link EventBus.publishAll}. */
export type OutgoingRecord = {
  [T in TopicId]: { topic: T; message: TopicMessage<T>; headers?: Record<string, string> };
}[TopicId];

export interface Subscription {
  /** Stops taking new messages and waits for the one in hand to finish. */
  close(): Promise<void>;
}

/**
 * The event-bus port. Guarantees the services rely on, on both adapters:
 * - records with the same key are delivered in publish order, one at a time per group;
 * - every consumer group receives every record at least once; within a group, once per member set;
 * - a record is validated against its topic's schema on publish and again before its handler runs;
 * - a handler that keeps failing does not block its partition forever: after retries the record goes
 *   to the dead-letter topic `<topic>.dlq` (or the log, in process) and the next one is delivered.
 */
export interface EventBus {
  readonly kind: 'in-process' | 'kafka';
  publish<T extends TopicId>(
    topic: T,
    message: TopicMessage<T>,
    headers?: Record<string, string>,
  ): Promise<void>;
  /**
   * Several records in one round trip (Kafka: one produce request), in order; all are durable when
   * it resolves. On failure none or only some may have been written: publish again.
   */
  publishAll(records: readonly OutgoingRecord[]): Promise<void>;
  subscribe<T extends TopicId>(options: SubscribeOptions<T>): Promise<Subscription>;
  /**
   * Readiness check: resolves when the bus can take records now (Kafka: one metadata request on a
   * long-lived admin connection, no retries) and every subscription still consumes; throws otherwise.
   * Callers bound it with their own timeout.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}
