import { topicCatalog, topicName, type TopicId, type TopicMessage } from '@im/contracts';
import type { Logger } from '@im/logging';
import { consumeInContext, producerHeaders } from '@im/observability';
import type {
  EventBus,
  MessageHandler,
  MessageMeta,
  OutgoingRecord,
  SubscribeOptions,
  Subscription,
} from './event-bus';
import { partitionFor } from './partitioner';

interface Rec {
  offset: number;
  key: string;
  value: unknown;
  headers: Record<string, string>;
}

interface Member {
  handler: MessageHandler<TopicId>;
  closed: boolean;
}

interface Group {
  members: Member[];
  /** Next offset to deliver, per partition. */
  offsets: number[];
  /** Partitions whose delivery loop is running. */
  busy: Set<number>;
  /** Resolves when the partition's loop goes idle. */
  idle: Map<number, Promise<void>>;
}

interface Topic {
  partitions: Rec[][];
  /** Offset of partitions[p][0]; records below every group's offset are trimmed. */
  base: number[];
  groups: Map<string, Group>;
}

export interface InProcessBusOptions {
  partitions?: number;
  topicPrefix?: string;
  maxAttempts?: number;
  retryDelayMs?: number;
}

/**
 * An in-memory event bus with the semantics of the Kafka adapter that the services rely on: keyed
 * partitions delivered in order, consumer groups that split partitions among members, validation on
 * both sides, bounded retries then a dead letter. Nothing survives the process; the services recover
 * from their own tables at start-up.
 */
export class InProcessEventBus implements EventBus {
  readonly kind = 'in-process' as const;
  private readonly topics = new Map<TopicId, Topic>();
  private readonly partitions: number;
  private readonly prefix: string;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private closed = false;

  constructor(
    private readonly logger: Logger,
    options: InProcessBusOptions = {},
  ) {
    this.partitions = options.partitions ?? 4;
    this.prefix = options.topicPrefix ?? 'im.';
    this.maxAttempts = options.maxAttempts ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? 50;
  }

  private topic(id: TopicId): Topic {
    let t = this.topics.get(id);
    if (!t) {
      t = {
        partitions: Array.from({ length: this.partitions }, () => []),
        base: new Array<number>(this.partitions).fill(0),
        groups: new Map(),
      };
      this.topics.set(id, t);
    }
    return t;
  }

  async publish<T extends TopicId>(
    topic: T,
    message: TopicMessage<T>,
    headers: Record<string, string> = {},
  ): Promise<void> {
    if (this.closed) throw new Error('The event bus is closed.');
    const entry = topicCatalog[topic];
    const value = entry.schema.parse(message);
    const key = (entry.key as (v: unknown) => string)(value);
    const t = this.topic(topic);
    const p = partitionFor(key, this.partitions);
    const part = t.partitions[p] as Rec[];
    const offset = (t.base[p] as number) + part.length;
    // Records are stored as JSON, as on the wire: a handler never shares an object with the publisher.
    part.push({ offset, key, value: JSON.parse(JSON.stringify(value)), headers: producerHeaders(headers) });
    for (const [groupId, g] of t.groups) this.kick(topic, groupId, g, p);
  }

  async publishAll(records: readonly OutgoingRecord[]): Promise<void> {
    for (const r of records) await this.publish(r.topic, r.message, r.headers);
  }

  async subscribe<T extends TopicId>(options: SubscribeOptions<T>): Promise<Subscription> {
    const t = this.topic(options.topic);
    let g = t.groups.get(options.groupId);
    if (!g) {
      g = {
        members: [],
        offsets: t.partitions.map((part, p) =>
          options.fromBeginning ? (t.base[p] as number) : (t.base[p] as number) + part.length,
        ),
        busy: new Set(),
        idle: new Map(),
      };
      t.groups.set(options.groupId, g);
    }
    const member: Member = { handler: options.handler, closed: false };
    g.members.push(member);
    const group = g;
    for (let p = 0; p < this.partitions; p++) this.kick(options.topic, options.groupId, group, p);
    return {
      close: async () => {
        member.closed = true;
        group.members = group.members.filter((m) => m !== member);
        await Promise.all([...group.idle.values()]);
      },
    };
  }

  /** Starts the delivery loop of one partition for one group, unless it runs already. */
  private kick(topicId: TopicId, groupId: string, g: Group, p: number): void {
    if (g.busy.has(p) || g.members.length === 0) return;
    g.busy.add(p);
    const loop: Promise<void> = this.deliver(topicId, groupId, g, p).finally(() => {
      if (g.idle.get(p) !== loop) return; // a newer loop runs this partition now
      g.busy.delete(p);
      g.idle.delete(p);
    });
    g.idle.set(p, loop);
  }

  private async deliver(topicId: TopicId, groupId: string, g: Group, p: number): Promise<void> {
    const t = this.topic(topicId);
    const schema = topicCatalog[topicId].schema;
    for (;;) {
      await Promise.resolve(); // never deliver inside publish()
      const live = g.members.filter((m) => !m.closed);
      const part = t.partitions[p] as Rec[];
      const rec = part[(g.offsets[p] as number) - (t.base[p] as number)];
      if (live.length === 0 || this.closed || !rec) {
        // Not busy from this very moment: a record published before the loop's promise settles
        // (a microtask later) starts a new loop instead of waiting for the next publish.
        g.busy.delete(p);
        return;
      }
      const member = live[p % live.length] as Member;
      const meta: MessageMeta = {
        topic: topicName(topicId, this.prefix),
        key: rec.key,
        partition: p,
        headers: rec.headers,
      };
      const parsed = schema.safeParse(rec.value);
      if (!parsed.success) {
        this.logger.error(
          { topic: meta.topic, key: rec.key, offset: rec.offset, issues: parsed.error.issues },
          'dead letter: record fails its schema',
        );
      } else {
        for (let attempt = 1; ; attempt++) {
          try {
            await consumeInContext(meta.topic, groupId, meta.headers, () =>
              member.handler(parsed.data, meta),
            );
            break;
          } catch (err) {
            if (attempt >= this.maxAttempts) {
              this.logger.error(
                { err, topic: meta.topic, key: rec.key, offset: rec.offset, attempts: attempt },
                'dead letter: handler kept failing',
              );
              break;
            }
            this.logger.warn({ err, topic: meta.topic, key: rec.key, attempt }, 'handler failed; retrying');
            await new Promise((r) => setTimeout(r, this.retryDelayMs * attempt));
          }
        }
      }
      g.offsets[p] = rec.offset + 1;
      this.trim(t, p);
    }
  }

  /** Drops records every group has consumed. */
  private trim(t: Topic, p: number): void {
    let min = Number.POSITIVE_INFINITY;
    for (const g of t.groups.values()) min = Math.min(min, g.offsets[p] as number);
    const drop = min - (t.base[p] as number);
    if (drop > 0 && Number.isFinite(drop)) {
      (t.partitions[p] as Rec[]).splice(0, drop);
      t.base[p] = (t.base[p] as number) + drop;
    }
  }

  /** Resolves once every record published so far has been handled by every group (tests). */
  async idle(): Promise<void> {
    for (;;) {
      const loops: Promise<void>[] = [];
      for (const t of this.topics.values()) for (const g of t.groups.values()) loops.push(...g.idle.values());
      if (loops.length === 0) return;
      await Promise.all(loops);
    }
  }

  /** In memory: up as long as it is open. */
  async ping(): Promise<void> {
    if (this.closed) throw new Error('The event bus is closed.');
  }

  async close(): Promise<void> {
    this.closed = true;
    const loops: Promise<void>[] = [];
    for (const t of this.topics.values()) for (const g of t.groups.values()) loops.push(...g.idle.values());
    await Promise.all(loops);
  }
}
