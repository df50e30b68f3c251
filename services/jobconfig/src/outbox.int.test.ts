import type { JobCancelRequested } from '@im/contracts';
import { createDb, migrateLatest, migrateRollbackAll, type Knex } from '@im/db';
import { silentLogger } from '@im/logging';
import { InProcessEventBus, type OutgoingRecord } from '@im/messaging';
import { infraEnv, uniqueName, waitFor } from '@im/testing';
import { jobconfigMigrations } from './jobconfig.migrations';
import { Outbox } from './outbox';

const numbered = (jobId: string, attempt: number): OutgoingRecord => ({
  topic: 'job.cancel',
  message: { jobId, attempt, stoppedByUserId: 'u-1', requestedAt: '2026-11-28T10:00:00.000Z' },
});

const cancel = (jobId: string): OutgoingRecord => ({
  topic: 'job.cancel',
  message: { jobId, attempt: 1, stoppedByUserId: 'u-1', requestedAt: '2026-11-28T10:00:00.000Z' },
});

/** The outbox on the real PostgreSQL: what the relay sees, and two replicas relaying one table. */
describe('Outbox on PostgreSQL', () => {
  const schema = uniqueName('outbox');
  let db: Knex;
  let bus: InProcessEventBus;
  const seen: string[] = [];
  const got: { jobId: string; attempt: number }[] = [];

  beforeAll(async () => {
    db = createDb({ client: 'postgres', url: infraEnv().pgUrl, schema, poolMax: 6 });
    await migrateLatest(db, jobconfigMigrations, schema);
    bus = new InProcessEventBus(silentLogger());
    await bus.subscribe({
      groupId: 'test',
      topic: 'job.cancel',
      handler: async (m: JobCancelRequested) => {
        seen.push(m.jobId);
        got.push({ jobId: m.jobId, attempt: m.attempt });
      },
    });
  });

  afterAll(async () => {
    await bus.close();
    await migrateRollbackAll(db, jobconfigMigrations, schema);
    await db.raw('drop schema if exists ?? cascade', [schema]);
    await db.destroy();
  });

  beforeEach(() => {
    seen.length = 0;
    got.length = 0;
  });

  it('does not publish a record while its transaction is open, and publishes it once it commits', async () => {
    const outbox = new Outbox(db, bus, silentLogger());
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    let added: () => void = () => undefined;
    const written = new Promise<void>((r) => (added = r));
    const tx = db.transaction(async (trx) => {
      await outbox.add(trx, [cancel('in-flight')]);
      added();
      await held;
    });
    await written;
    expect(await outbox.flush()).toBe(0); // another connection: the row is not committed yet
    release();
    await tx;
    expect(await outbox.flush()).toBe(1);
    await waitFor(() => (seen.includes('in-flight') ? true : undefined), { what: 'the committed record' });
    expect(seen).toEqual(['in-flight']);
  });

  it('publishes each record once, each job in the order written, with two replicas relaying', async () => {
    const a = new Outbox(db, bus, silentLogger(), { idlePollMs: 5, batchSize: 7 });
    const b = new Outbox(db, bus, silentLogger(), { idlePollMs: 5, batchSize: 7 });
    a.start();
    b.start();
    try {
      // 30 jobs, 4 records each (attempt 1..4 stands for the sequence), written interleaved.
      const jobs = Array.from({ length: 30 }, (_, i) => `job-${i}`);
      for (let step = 1; step <= 4; step++)
        for (let i = 0; i < jobs.length; i += 3) {
          await db.transaction((trx) =>
            a.add(
              trx,
              jobs.slice(i, i + 3).map((j) => numbered(j, step)),
            ),
          );
          (i % 2 === 0 ? a : b).nudge();
        }
      await waitFor(() => (got.length >= jobs.length * 4 ? true : undefined), {
        timeoutMs: 30_000,
        what: 'every record',
      });
      expect(got).toHaveLength(jobs.length * 4);
      for (const j of jobs)
        expect(got.filter((g) => g.jobId === j).map((g) => g.attempt)).toEqual([1, 2, 3, 4]);
      expect(await a.backlog()).toBe(0);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
