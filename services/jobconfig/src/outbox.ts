import { topicCatalog } from '@im/contracts';
import { isPostgres, type Knex } from '@im/db';
import type { Logger } from '@im/logging';
import type { EventBus, OutgoingRecord } from '@im/messaging';
import { producerHeaders } from '@im/observability';

interface OutboxRow {
  id: number | string;
  topic: string;
  payload: string;
  headers: string;
}

export interface OutboxOptions {
  /** Records published per round trip. */
  batchSize?: number;
  /** How often an idle relay looks for records another instance wrote (it is woken for its own). */
  idlePollMs?: number;
  /** Longest wait between two tries while the bus fails. */
  maxBackoffMs?: number;
}

/** Any number: the one advisory lock that makes a single relay of all jobconfig replicas publish. */
const RELAY_LOCK = 0x494d4f42; // "IMOB"

/**
 * The transactional outbox (ADR 0008): a record to publish is written in the same database
 * transaction as the state change it announces, and a relay publishes committed records in the
 * order they were written, then deletes them. So an event is never published before its change is
 * committed, and never lost after: a crash or a Kafka outage delays it. Delivery is at least once
 * (a relay that dies between publishing and deleting publishes again); consumers de-duplicate on the
 * event id. Of several jobconfig replicas, the one holding a PostgreSQL advisory lock relays.
 */
export class Outbox {
  private readonly batchSize: number;
  private readonly idlePollMs: number;
  private readonly maxBackoffMs: number;
  private running: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private nudged = false;
  private failing = false;

  constructor(
    private readonly db: Knex,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    options: OutboxOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 200;
    this.idlePollMs = options.idlePollMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 2000;
  }

  /**
   * Writes records in the caller's transaction: they are published once it commits, not before.
   * Each keeps the trace context of the caller (`traceparent`), so the relay, which publishes outside
   * any request, sends the records as part of the trace that wrote them (a job's POST, a report).
   */
  async add(trx: Knex, records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    const now = Date.now();
    await trx('outbox').insert(
      records.map((r) => ({
        topic: r.topic,
        payload: JSON.stringify(r.message),
        headers: JSON.stringify(producerHeaders(r.headers ?? {})),
        created_at: now,
      })),
    );
  }

  /** Tells the relay that records were committed (saves it waiting for its next look). */
  nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  /** Records waiting to be published. */
  async backlog(): Promise<number> {
    const row = (await this.db('outbox').count({ n: '*' }).first()) as { n: number | string } | undefined;
    return Number(row?.n ?? 0);
  }

  /**
   * Publishes what is committed now, in this call (without the relay's loop); returns how many
   * records. 0 also when another replica holds the relay lock.
   */
  async flush(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.relayOnce();
      total += n;
      if (n === 0) return total;
    }
  }

  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.running = this.loop();
  }

  /**
   * Stops the relay after a last flush of what is committed (bounded by `timeoutMs`): what it
   * cannot publish now stays in the table for the next start.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    this.wake?.();
    await this.running;
    this.running = undefined;
    const deadline = Date.now() + timeoutMs;
    try {
      while (Date.now() < deadline && (await this.relayOnce()) > 0);
    } catch (err) {
      this.logger.warn(
        { err, backlog: await this.backlog() },
        'outbox not flushed on shutdown; kept for the next start',
      );
    }
  }

  private async loop(): Promise<void> {
    let backoff = 0;
    while (!this.stopping) {
      let published = 0;
      try {
        published = await this.relayOnce();
        backoff = 0;
        if (this.failing) {
          this.failing = false;
          this.logger.info('the outbox is publishing again');
        }
      } catch (err) {
        if (!this.failing) {
          this.failing = true;
          this.logger.warn(
            { err },
            'cannot publish the outbox; events are kept and sent once the bus answers',
          );
        }
        backoff = Math.min(Math.max(backoff * 2, 50), this.maxBackoffMs);
        await this.pause(backoff);
        continue;
      }
      if (published < this.batchSize) await this.pause(this.idlePollMs);
    }
  }

  /** Waits for a nudge, a stop or `ms`, whichever comes first. */
  private pause(ms: number): Promise<void> {
    if (this.nudged || this.stopping) {
      this.nudged = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.nudged = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  /**
   * Takes the oldest committed records out of the table and publishes them, in one transaction
   * (three round trips: begin, one statement, commit): a failed publish rolls the delete back.
   * Returns how many were published.
   */
  private relayOnce(): Promise<number> {
    return this.db.transaction(async (trx) => {
      const pg = isPostgres(this.db);
      // Of several replicas, the one holding the advisory lock (until commit) relays.
      const sql = `delete from outbox where id in (select id from outbox order by id limit ?)${
        pg ? ' and pg_try_advisory_xact_lock(?)' : ''
      } returning id, topic, payload, headers`;
      const result = await trx.raw<{ rows: OutboxRow[] } | OutboxRow[]>(
        sql,
        pg ? [this.batchSize, RELAY_LOCK] : [this.batchSize],
      );
      const rows = Array.isArray(result) ? result : result.rows;
      if (rows.length === 0) return 0;
      rows.sort((a, b) => Number(a.id) - Number(b.id));
      const records: OutgoingRecord[] = [];
      for (const row of rows) {
        if (!(row.topic in topicCatalog)) {
          this.logger.error({ id: row.id, topic: row.topic }, 'outbox record for an unknown topic; dropped');
          continue;
        }
        records.push({
          topic: row.topic,
          message: JSON.parse(row.payload) as never,
          headers: JSON.parse(row.headers) as Record<string, string>,
        } as OutgoingRecord);
      }
      if (records.length > 0) await this.bus.publishAll(records);
      return rows.length;
    });
  }
}
