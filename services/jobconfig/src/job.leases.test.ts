import type {
  FileCatalogPort,
  JobLease,
  JobProgress,
  JobRequested,
  JobStatusEvent,
  Principal,
} from '@im/contracts';
import { createDb, migrateLatest, type Knex } from '@im/db';
import { silentLogger } from '@im/logging';
import { InProcessEventBus } from '@im/messaging';
import { waitFor } from '@im/testing';
import { JobConfigRepository } from './job-config.repository';
import { JobConfigService } from './job-config.service';
import { jobconfigMigrations } from './jobconfig.migrations';
import { JobRepository } from './job.repository';
import { JobService } from './job.service';
import { LeaseReaper } from './lease-reaper';
import { Outbox } from './outbox';

const admin: Principal = { id: '1', name: 'admin', roles: ['admin'], accountId: '1' };
const files: FileCatalogPort = {
  exists: async () => true,
  entryPoints: async () => ['main.process'],
};
const LEASE_MS = 10_000;

/**
 * Runner leases in the job state machine, on SQLite with the in-process bus and a clock the tests
 * move: claims, fencing, heartbeats, expiry (re-queue up to maxAttempts, else FAILED runner-lost),
 * hand-back at shutdown.
 */
describe('JobService leases', () => {
  let db: Knex;
  let bus: InProcessEventBus;
  let outbox: Outbox;
  let jobs: JobService;
  let configs: JobConfigService;
  let now: number;
  const events: JobStatusEvent[] = [];
  const leases: JobLease[] = [];
  const requests: JobRequested[] = [];

  beforeEach(async () => {
    now = Date.parse('2026-11-28T10:00:00.000Z');
    db = createDb({ client: 'sqlite', filename: ':memory:' });
    await migrateLatest(db, jobconfigMigrations);
    bus = new InProcessEventBus(silentLogger());
    events.length = 0;
    leases.length = 0;
    requests.length = 0;
    await bus.subscribe({ groupId: 't1', topic: 'job.status', handler: async (e) => void events.push(e) });
    await bus.subscribe({ groupId: 't2', topic: 'job.leases', handler: async (l) => void leases.push(l) });
    await bus.subscribe({
      groupId: 't3',
      topic: 'job.requests',
      handler: async (r) => void requests.push(r),
    });
    const jobRepo = new JobRepository(db);
    configs = new JobConfigService(new JobConfigRepository(db), jobRepo, files, bus, silentLogger());
    outbox = new Outbox(db, bus, silentLogger(), { idlePollMs: 20 });
    outbox.start();
    jobs = new JobService(jobRepo, configs, files, outbox, silentLogger(), () => now, { leaseMs: LEASE_MS });
  });

  afterEach(async () => {
    await outbox.stop();
    await bus.close();
    await db.destroy();
  });

  /** A runnable configuration (created, then pointed at its package, as a client does). */
  const runnable = async (extra: Record<string, unknown> = {}) => {
    const c = await configs.create(admin, { name: 'c', ...extra });
    return configs.replace(admin, c.id, {
      name: 'c',
      ...extra,
      runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' },
    });
  };

  const submit = async (maxAttempts?: number) => {
    const c = await runnable(maxAttempts ? { maxAttempts } : {});
    return jobs.run(admin, c.id, {});
  };

  const report = (
    jobId: string,
    status: JobProgress['status'],
    runnerId = 'runner-a',
    attempt = 1,
    extra: Partial<JobProgress> = {},
  ) =>
    jobs.onProgress({
      jobId,
      attempt,
      status,
      reason: null,
      returnCode: null,
      currentStep: null,
      runnerId,
      occurredAt: new Date(now).toISOString(),
      ...extra,
    });

  const published = <T>(list: T[], pred: (x: T) => boolean, n = 1) =>
    waitFor(() => (list.filter(pred).length >= n ? list.filter(pred) : undefined), {
      what: 'the outbox to publish',
    });

  const statusesOf = (jobId: string) =>
    events.filter((e) => e.subject === jobId).map((e) => `${e.data.status}@${e.data.attempt}`);

  it('grants the first claim of a queued attempt and refuses every other runner', async () => {
    const job = await submit();
    await report(job.id, 'INITIALIZING', 'runner-a');
    await report(job.id, 'INITIALIZING', 'runner-b'); // the same request delivered to a second runner
    await report(job.id, 'INITIALIZING', 'runner-a'); // the holder's request delivered again
    const answers = await published(leases, (l) => l.jobId === job.id, 3);
    expect(answers.map((l) => [l.runnerId, l.granted])).toEqual([
      ['runner-a', true],
      ['runner-b', false],
      ['runner-a', true],
    ]);
    expect(answers[1]?.reason).toContain('runner-a holds this attempt');
    expect(answers[0]?.leaseMs).toBe(LEASE_MS);
    const stored = await jobs.reload(job.id);
    expect(stored).toMatchObject({ status: 'INITIALIZING', runnerId: 'runner-a' });
    expect(stored?.leaseExpiresAt).toBe(now + LEASE_MS);
  });

  it('ignores the reports of a runner that does not hold the attempt', async () => {
    const job = await submit();
    await report(job.id, 'INITIALIZING', 'runner-a');
    await report(job.id, 'RUNNING', 'runner-b');
    await report(job.id, 'FINISHED', 'runner-b', 1, { returnCode: 0 });
    expect((await jobs.reload(job.id))?.status).toBe('INITIALIZING');
    await report(job.id, 'RUNNING', 'runner-a');
    await report(job.id, 'ERROR', 'runner-a', 1, { returnCode: 3 });
    expect(await jobs.reload(job.id)).toMatchObject({ status: 'ERROR', returnCode: 3 });
  });

  it('refuses claims for an attempt that is over or unknown', async () => {
    const job = await submit();
    await report(job.id, 'INITIALIZING', 'runner-a');
    await report(job.id, 'RUNNING', 'runner-a');
    await report(job.id, 'FINISHED', 'runner-a');
    await report(job.id, 'INITIALIZING', 'runner-b');
    await report('no-such-job', 'INITIALIZING', 'runner-b');
    const refused = await published(leases, (l) => !l.granted, 2);
    expect(refused.map((l) => l.jobId)).toEqual([job.id, 'no-such-job']);
    expect(refused[0]?.reason).toContain('attempt 1 is over');
    expect((await jobs.reload(job.id))?.status).toBe('FINISHED');
  });

  it('keeps a lease alive while heartbeats come, and re-queues the job as attempt 2 once they stop', async () => {
    const job = await submit(2);
    await report(job.id, 'INITIALIZING', 'runner-a');
    await report(job.id, 'RUNNING', 'runner-a');
    for (let i = 0; i < 5; i++) {
      now += LEASE_MS / 2;
      await jobs.onHeartbeat({
        runnerId: 'runner-a',
        jobs: [{ jobId: job.id, attempt: 1 }],
        occurredAt: new Date(now).toISOString(),
      });
      expect(await jobs.reapExpiredLeases()).toEqual({ requeued: 0, failed: 0 });
    }
    now += LEASE_MS + 1; // runner-a is gone: no more heartbeats
    expect(await jobs.reapExpiredLeases()).toEqual({ requeued: 1, failed: 0 });
    expect(await jobs.reapExpiredLeases()).toEqual({ requeued: 0, failed: 0 }); // once only

    const again = await published(requests, (r) => r.jobId === job.id, 2);
    expect(again.map((r) => r.attempt)).toEqual([1, 2]);
    // runner-a, should it still be alive somewhere, is told to stop attempt 1.
    const revoked = await published(leases, (l) => l.jobId === job.id && !l.granted);
    expect(revoked[0]).toMatchObject({ runnerId: 'runner-a', attempt: 1, reason: 're-queued as attempt 2' });

    // Attempt 1's runner cannot report any more; attempt 2 runs on runner-b and finishes.
    await report(job.id, 'FINISHED', 'runner-a', 1);
    await report(job.id, 'INITIALIZING', 'runner-b', 2);
    await report(job.id, 'RUNNING', 'runner-b', 2);
    await report(job.id, 'FINISHED', 'runner-b', 2, { returnCode: 0 });
    await published(events, (e) => e.subject === job.id, 7);
    expect(statusesOf(job.id)).toEqual([
      'QUEUED@1',
      'INITIALIZING@1',
      'RUNNING@1',
      'QUEUED@2',
      'INITIALIZING@2',
      'RUNNING@2',
      'FINISHED@2',
    ]);
    const requeued = events.find((e) => e.subject === job.id && e.data.attempt === 2);
    expect(requeued?.data).toMatchObject({ previousStatus: 'RUNNING', status: 'QUEUED', sequence: 4 });
    expect(events.filter((e) => e.subject === job.id).map((e) => e.data.sequence)).toEqual([
      1, 2, 3, 4, 5, 6, 7,
    ]);
  });

  it('fails the job with runner-lost when its attempts are used up (maxAttempts 1 by default)', async () => {
    const job = await submit();
    await report(job.id, 'INITIALIZING', 'runner-a');
    now += LEASE_MS - 1;
    expect(await jobs.reapExpiredLeases()).toEqual({ requeued: 0, failed: 0 });
    now += 2;
    expect(await jobs.reapExpiredLeases()).toEqual({ requeued: 0, failed: 1 });
    expect(await jobs.reload(job.id)).toMatchObject({
      status: 'FAILED',
      reason: 'runner-lost',
      attempt: 1,
      finishedAt: now,
    });
    await published(events, (e) => e.subject === job.id && e.data.status === 'FAILED');
    expect(requests.filter((r) => r.jobId === job.id)).toHaveLength(1);
  });

  it('re-queues a job its runner hands back at shutdown without using up an attempt', async () => {
    const job = await submit(); // maxAttempts 1: a lost runner would fail it, a hand-back does not
    await report(job.id, 'INITIALIZING', 'runner-a');
    await report(job.id, 'RUNNING', 'runner-a');
    await report(job.id, 'RELEASED', 'runner-b'); // not the holder: ignored
    expect((await jobs.reload(job.id))?.status).toBe('RUNNING');
    await report(job.id, 'RELEASED', 'runner-a');
    expect(await jobs.reload(job.id)).toMatchObject({ status: 'QUEUED', attempt: 2, handovers: 1 });
    await report(job.id, 'INITIALIZING', 'runner-b', 2);
    now += LEASE_MS + 1; // runner-b is lost too: that is the one lost attempt maxAttempts 1 allows
    expect(await jobs.reapExpiredLeases()).toEqual({ requeued: 0, failed: 1 });
    expect(await jobs.reload(job.id)).toMatchObject({ status: 'FAILED', reason: 'runner-lost', attempt: 2 });
  });

  it('requests a released job again when the runner gave it back before claiming it', async () => {
    const job = await submit();
    await report(job.id, 'RELEASED', 'runner-a');
    const sent = await published(requests, (r) => r.jobId === job.id, 2);
    expect(sent.map((r) => r.attempt)).toEqual([1, 1]);
    expect((await jobs.reload(job.id))?.status).toBe('QUEUED');
  });

  it("tells a runner heartbeating for an attempt it no longer holds to stop, and leaves others' leases alone", async () => {
    const job = await submit(2);
    await report(job.id, 'INITIALIZING', 'runner-a');
    const before = (await jobs.reload(job.id))?.leaseExpiresAt;
    now += 1000;
    await jobs.onHeartbeat({
      runnerId: 'runner-b',
      jobs: [{ jobId: job.id, attempt: 1 }],
      occurredAt: new Date(now).toISOString(),
    });
    expect((await jobs.reload(job.id))?.leaseExpiresAt).toBe(before);
    const told = await published(leases, (l) => l.runnerId === 'runner-b' && !l.granted);
    expect(told[0]).toMatchObject({ jobId: job.id, attempt: 1 });
  });

  it('reaps on a timer: a job whose runner went silent ends without anyone asking', async () => {
    const job = await submit();
    await report(job.id, 'INITIALIZING', 'runner-a');
    now += LEASE_MS + 1;
    const reaper = new LeaseReaper(jobs, silentLogger(), { intervalMs: 10 });
    reaper.start();
    try {
      await published(events, (e) => e.subject === job.id && e.data.status === 'FAILED');
    } finally {
      reaper.stop();
    }
    expect((await jobs.reload(job.id))?.reason).toBe('runner-lost');
  });

  it("expires no lease while the event bus is down, nor a runner's after it returns until that runner is heard", async () => {
    const job = await submit();
    const other = await submit();
    await report(job.id, 'INITIALIZING', 'runner-a');
    await report(other.id, 'INITIALIZING', 'runner-b');
    let busUp = false;
    const reaper = new LeaseReaper(jobs, silentLogger(), {
      busCheck: async () => {
        if (!busUp) throw new Error('broker unreachable');
      },
      now: () => now,
    });
    now += LEASE_MS * 3; // no heartbeat could arrive all that time
    await reaper.tick();
    expect((await jobs.reload(job.id))?.status).toBe('INITIALIZING');
    busUp = true;
    for (let i = 0; i < 3; i++) {
      now += LEASE_MS; // the bus is back but the heartbeats' consumer is still rejoining
      await reaper.tick();
      expect((await jobs.reload(job.id))?.status).toBe('INITIALIZING');
      expect((await jobs.reload(other.id))?.status).toBe('INITIALIZING');
    }
    // runner-b is heard again; runner-a (its producer still reconnecting, or gone) stays silent.
    await jobs.onHeartbeat({
      runnerId: 'runner-b',
      jobs: [{ jobId: other.id, attempt: 1 }],
      occurredAt: new Date(now).toISOString(),
    });
    await reaper.tick();
    now += LEASE_MS + 1;
    await reaper.tick();
    // runner-b's lease runs normally again (it did not beat again); runner-a's is still kept.
    expect(await jobs.reload(other.id)).toMatchObject({ status: 'FAILED', reason: 'runner-lost' });
    expect((await jobs.reload(job.id))?.status).toBe('INITIALIZING');
    // A minute after the bus returned runner-a is still silent: one last full term, then it is lost.
    now += 30_000;
    await reaper.tick();
    expect((await jobs.reload(job.id))?.status).toBe('INITIALIZING');
    now += LEASE_MS + 1;
    await reaper.tick();
    expect(await jobs.reload(job.id)).toMatchObject({ status: 'FAILED', reason: 'runner-lost' });
  });

  it('ends the recovery after a bus outage as soon as every runner holding a lease is heard', async () => {
    const job = await submit();
    await report(job.id, 'INITIALIZING', 'runner-a');
    let busUp = false;
    const reaper = new LeaseReaper(jobs, silentLogger(), {
      busCheck: async () => {
        if (!busUp) throw new Error('broker unreachable');
      },
      now: () => now,
    });
    await reaper.tick();
    busUp = true;
    now += LEASE_MS * 2;
    await reaper.tick();
    await jobs.onHeartbeat({
      runnerId: 'runner-a',
      jobs: [{ jobId: job.id, attempt: 1 }],
      occurredAt: new Date(now).toISOString(),
    });
    await reaper.tick();
    // runner-a dies now: its lease runs out one term after its last heartbeat, not a minute later.
    now += LEASE_MS + 1;
    await reaper.tick();
    expect(await jobs.reload(job.id)).toMatchObject({ status: 'FAILED', reason: 'runner-lost' });
  });

  it('moves the lost job of a blocking configuration out of the way of the next one', async () => {
    const c = await runnable({ blocking: true });
    const first = await jobs.run(admin, c.id, {});
    const second = await jobs.run(admin, c.id, {});
    expect(second.status).toBe('SEQUENCED');
    await report(first.id, 'INITIALIZING', 'runner-a');
    now += LEASE_MS + 1;
    await jobs.reapExpiredLeases();
    expect((await jobs.reload(second.id))?.status).toBe('QUEUED');
  });
});
