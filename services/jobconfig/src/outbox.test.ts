import type { JobCancelRequested } from '@im/contracts';
import { createDb, migrateLatest, type Knex } from '@im/db';
import { silentLogger } from '@im/logging';
import { InProcessEventBus, type OutgoingRecord } from '@im/messaging';
import { waitFor } from '@im/testing';
import { jobconfigMigrations } from './jobconfig.migrations';
import { Outbox } from './outbox';

const cancel = (jobId: string): OutgoingRecord => ({
  topic: 'job.cancel',
  message: { jobId, attempt: 1, stoppedByUserId: 'u-1', requestedAt: '2026-11-28T10:00:00.000Z' },
});

/** The outbox on SQLite with the in-process bus; `failures` makes the next publishes fail. */
describe('Outbox', () => {
  let db: Knex;
  let bus: InProcessEventBus;
  let outbox: Outbox;
  let failures = 0;
  const seen: string[] = [];

  beforeEach(async () => {
    db = createDb({ client: 'sqlite', filename: ':memory:' });
    await migrateLatest(db, jobconfigMigrations);
    bus = new InProcessEventBus(silentLogger());
    seen.length = 0;
    failures = 0;
    await bus.subscribe({
      groupId: 'test',
      topic: 'job.cancel',
      handler: async (m: JobCancelRequested) => void seen.push(m.jobId),
    });
    const flaky = Object.assign(Object.create(bus) as InProcessEventBus, {
      publishAll: async (records: readonly OutgoingRecord[]) => {
        if (failures > 0) {
          failures--;
          throw new Error('broker unreachable');
        }
        await bus.publishAll(records);
      },
    });
    outbox = new Outbox(db, flaky, silentLogger(), { idlePollMs: 20, maxBackoffMs: 40, batchSize: 3 });
  });

  afterEach(async () => {
    await outbox.stop();
    await bus.close();
    await db.destroy();
  });

  it('publishes what a transaction wrote only once it commits, and nothing of a rolled-back one', async () => {
    outbox.start();
    await expect(
      db.transaction(async (trx) => {
        await outbox.add(trx, [cancel('rolled-back')]);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    await db.transaction(async (trx) => {
      await outbox.add(trx, [cancel('a'), cancel('b')]);
      // Not before the commit, however long the transaction takes.
      await new Promise((r) => setImmediate(r));
      expect(seen).toEqual([]);
    });
    outbox.nudge();
    await waitFor(() => (seen.length === 2 ? true : undefined), { what: 'both records' });
    expect(seen).toEqual(['a', 'b']);
    expect(await outbox.backlog()).toBe(0);
  });

  it('keeps records while the bus fails and publishes all of them, in order, once it answers', async () => {
    failures = 5;
    outbox.start();
    const ids = Array.from({ length: 10 }, (_, i) => `job-${i}`);
    for (const id of ids) await db.transaction((trx) => outbox.add(trx, [cancel(id)]));
    outbox.nudge();
    await waitFor(() => (seen.length >= ids.length ? true : undefined), { what: 'every record' });
    expect(failures).toBe(0);
    expect(seen).toEqual(ids);
    expect(await outbox.backlog()).toBe(0);
  });

  it('flushes what is committed when it stops, and keeps what it cannot publish for the next start', async () => {
    await db.transaction((trx) => outbox.add(trx, [cancel('x'), cancel('y')]));
    outbox.start();
    await outbox.stop();
    await waitFor(() => (seen.length === 2 ? true : undefined), { what: 'the flushed records' });
    failures = 1_000;
    await db.transaction((trx) => outbox.add(trx, [cancel('z')]));
    outbox.start();
    await outbox.stop(200);
    expect(await outbox.backlog()).toBe(1);
    failures = 0;
    outbox.start();
    outbox.nudge();
    await waitFor(() => (seen.includes('z') ? true : undefined), { what: 'the kept record' });
    expect(seen).toEqual(['x', 'y', 'z']);
  });
});
