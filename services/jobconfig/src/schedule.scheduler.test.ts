import type { FileCatalogPort, Principal, ScheduleRequest } from '@im/contracts';
import { createDb, migrateLatest, type Knex } from '@im/db';
import { silentLogger } from '@im/logging';
import { InProcessEventBus } from '@im/messaging';
import { waitFor } from '@im/testing';
import { JobConfigRepository } from './job-config.repository';
import { JobConfigService } from './job-config.service';
import { jobconfigMigrations } from './jobconfig.migrations';
import { JobRepository, type JobRecord } from './job.repository';
import { JobService } from './job.service';
import { Outbox } from './outbox';
import { ScheduleRepository } from './schedule.repository';
import { Scheduler } from './schedule.scheduler';
import { ScheduleService } from './schedule.service';

const alice: Principal = { id: '1', name: 'alice', roles: ['user'], accountId: '1' };
const files: FileCatalogPort = { exists: async () => true, entryPoints: async () => ['main.process'] };
const T0 = Date.parse('2026-11-28T10:00:00.500Z');

/** One jobconfig instance's schedule machinery over `db`, on the fake clock `now`. */
function instance(db: Knex, now: () => number, pollMs = 1000) {
  const bus = new InProcessEventBus(silentLogger());
  const jobRepo = new JobRepository(db);
  const configs = new JobConfigService(new JobConfigRepository(db), jobRepo, files, bus, silentLogger(), now);
  const outbox = new Outbox(db, bus, silentLogger());
  const jobs = new JobService(jobRepo, configs, files, outbox, silentLogger(), now);
  const repo = new ScheduleRepository(db);
  const schedules = new ScheduleService(repo, configs, now);
  const scheduler = new Scheduler(repo, configs, jobs, silentLogger(), { now, pollMs });
  return { bus, configs, jobs, schedules, scheduler, repo };
}

describe('Scheduler (SQLite, fake clock)', () => {
  let db: Knex;
  let t: number;
  const now = () => t;
  let one: ReturnType<typeof instance>;

  beforeEach(async () => {
    t = T0;
    db = createDb({ client: 'sqlite', filename: ':memory:' });
    await migrateLatest(db, jobconfigMigrations);
    one = instance(db, now);
  });

  afterEach(async () => {
    await one.scheduler.stop();
    await one.bus.close();
    await db.destroy();
  });

  const runnable = async (extra: Record<string, unknown> = {}) => {
    const c = await one.configs.create(alice, { name: 'scheduled', ...extra });
    return one.configs.replace(alice, c.id, {
      name: 'scheduled',
      ...extra,
      runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' },
    });
  };
  const everyMinute: ScheduleRequest = { type: 'cron', cronSchedule: '0 * * * * ?' };
  const jobsOf = async (id: string) =>
    (await db('jobs')
      .where({ job_config_id: Number(id) })
      .orderBy('seq')) as {
      status: string;
      scheduled_at: number;
      submitted_by_id: string;
      submitted_by_name: string;
    }[];
  const nextFireAt = async (id: string) => (await one.repo.find(id))?.nextFireAt;
  /** Advances the fake clock in `stepMs` steps up to `until`, one scheduler pass per step. */
  const drive = async (until: number, stepMs = 5000, schedulers = [one.scheduler]) => {
    const fired: JobRecord[] = [];
    while (t + stepMs <= until) {
      t += stepMs;
      for (const p of await Promise.all(schedulers.map((s) => s.tick()))) fired.push(...p.fired);
    }
    return fired;
  };

  it('fires a once-a-minute schedule once per tick, as the configuration owner, job and outbox together', async () => {
    const c = await runnable();
    await one.schedules.put(alice, c.id, everyMinute);
    expect(await nextFireAt(c.id)).toBe(Date.parse('2026-11-28T10:01:00Z'));

    const fired = await drive(T0 + 3 * 60_000);
    expect(fired.map((j) => new Date(j.scheduledAt).toISOString())).toEqual([
      '2026-11-28T10:01:00.500Z',
      '2026-11-28T10:02:00.500Z',
      '2026-11-28T10:03:00.500Z',
    ]);
    const rows = await jobsOf(c.id);
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.status === 'QUEUED' && r.submitted_by_id === '1')).toBe(true);
    expect(rows[0]?.submitted_by_name).toBe('alice');
    // Each job's status event and runner request are in the outbox, written with it.
    const topics = (await db('outbox').orderBy('id').select('topic')).map((r: { topic: string }) => r.topic);
    expect(topics).toEqual([
      'job.status',
      'job.requests',
      'job.status',
      'job.requests',
      'job.status',
      'job.requests',
    ]);
    expect(await nextFireAt(c.id)).toBe(Date.parse('2026-11-28T10:04:00Z'));
  });

  it('fires an interval on its grid', async () => {
    const c = await runnable();
    await one.schedules.put(alice, c.id, { type: 'interval', intervalFrequency: 'PT2M' });
    const fired = await drive(T0 + 7 * 60_000, 7000);
    expect(fired).toHaveLength(3);
    expect(await nextFireAt(c.id)).toBe(T0 + 8 * 60_000);
  });

  it('skips the tick of an inactive or not runnable configuration and moves on', async () => {
    const inactive = await runnable({ active: false });
    const bare = await one.configs.create(alice, { name: 'no package' });
    await one.schedules.put(alice, inactive.id, everyMinute);
    await one.schedules.put(alice, bare.id, everyMinute);
    t = Date.parse('2026-11-28T10:01:01Z');
    const pass = await one.scheduler.tick();
    expect(pass).toEqual({ fired: [], skipped: 2, lost: 0 });
    expect(await db('jobs').count({ n: '*' }).first()).toEqual({ n: 0 });
    expect(await nextFireAt(inactive.id)).toBe(Date.parse('2026-11-28T10:02:00Z'));
    expect(await nextFireAt(bare.id)).toBe(Date.parse('2026-11-28T10:02:00Z'));
  });

  it('sends a blocking configuration’s run behind its unfinished job (SEQUENCED)', async () => {
    const c = await runnable({ blocking: true });
    await one.jobs.run(alice, c.id, {});
    await one.schedules.put(alice, c.id, everyMinute);
    const [job] = await drive(T0 + 60_000);
    expect(job?.status).toBe('SEQUENCED');
  });

  it('fire-once: after a downtime the missed ticks run once, then the schedule resumes', async () => {
    const c = await runnable();
    await one.schedules.put(alice, c.id, everyMinute);
    t = Date.parse('2026-11-28T10:30:20Z'); // down from 10:00:00.5 to 10:30:20: 30 ticks missed
    expect((await one.scheduler.tick()).fired).toHaveLength(1);
    expect((await one.scheduler.tick()).fired).toHaveLength(0);
    expect(await nextFireAt(c.id)).toBe(Date.parse('2026-11-28T10:31:00Z'));
    await drive(Date.parse('2026-11-28T10:31:00Z'));
    expect(await jobsOf(c.id)).toHaveLength(2);
  });

  it('skip: after a downtime the missed ticks are dropped', async () => {
    const c = await runnable();
    await one.schedules.put(alice, c.id, {
      type: 'cron',
      cronSchedule: '0 0 * * * ?',
      misfirePolicy: 'skip',
    });
    t = Date.parse('2026-11-28T13:20:00Z');
    expect(await one.scheduler.tick()).toEqual({ fired: [], skipped: 1, lost: 0 });
    expect(await nextFireAt(c.id)).toBe(Date.parse('2026-11-28T14:00:00Z'));
    expect(await jobsOf(c.id)).toHaveLength(0);
  });

  it('keeps the tick when the submission fails: claim and job commit together or not at all', async () => {
    const c = await runnable();
    await one.schedules.put(alice, c.id, everyMinute);
    const submit = jest.spyOn(one.jobs, 'submit').mockRejectedValueOnce(new Error('disk full'));
    t = Date.parse('2026-11-28T10:01:00.200Z');
    expect((await one.scheduler.tick()).fired).toHaveLength(0);
    expect(await nextFireAt(c.id)).toBe(Date.parse('2026-11-28T10:01:00Z'));
    expect(await jobsOf(c.id)).toHaveLength(0);
    t += 1000;
    expect((await one.scheduler.tick()).fired).toHaveLength(1);
    expect(submit).toHaveBeenCalledTimes(2);
    expect(await nextFireAt(c.id)).toBe(Date.parse('2026-11-28T10:02:00Z'));
  });

  it('backs off a schedule whose submission keeps failing, without holding up the others', async () => {
    const bad = await runnable();
    const good = await runnable();
    await one.schedules.put(alice, bad.id, everyMinute);
    await one.schedules.put(alice, good.id, everyMinute);
    const original = one.jobs.submit.bind(one.jobs);
    const submit = jest
      .spyOn(one.jobs, 'submit')
      .mockImplementation((trx, c, ...rest) =>
        c.id === bad.id ? Promise.reject(new Error('disk full')) : original(trx, c, ...rest),
      );
    const attemptsOf = (id: string) => submit.mock.calls.filter((c) => c[1].id === id).length;
    // Passes every second for a minute: the failing one is tried after 1, 2, 4, 8, 16, 32 s, not 60 times.
    t = Date.parse('2026-11-28T10:01:00.200Z');
    for (let i = 0; i < 60; i++, t += 1000) await one.scheduler.tick();
    expect(attemptsOf(bad.id)).toBe(6);
    expect(await jobsOf(bad.id)).toHaveLength(0);
    expect(await nextFireAt(bad.id)).toBe(Date.parse('2026-11-28T10:01:00Z')); // still due
    // The other schedule fired on time meanwhile.
    expect(await jobsOf(good.id)).toHaveLength(1);
    // Once submissions work again the kept tick fires (at its next try), and the backoff is forgotten.
    submit.mockRestore();
    t += 32_000;
    expect((await one.scheduler.tick()).fired.map((j) => j.jobConfigId)).toContain(bad.id);
    expect(await jobsOf(bad.id)).toHaveLength(1);
  });

  it('two schedulers over one database fire each tick once', async () => {
    const c = await runnable();
    await one.schedules.put(alice, c.id, everyMinute);
    const two = instance(db, now);
    try {
      const fired = await drive(T0 + 3 * 60_000, 1000, [one.scheduler, two.scheduler]);
      expect(fired).toHaveLength(3);
      expect(await jobsOf(c.id)).toHaveLength(3);
    } finally {
      await two.bus.close();
    }
  });

  it('polls on its own once started, and stops', async () => {
    const c = await runnable();
    await one.schedules.put(alice, c.id, everyMinute);
    const polling = instance(db, now, 10);
    t = Date.parse('2026-11-28T10:01:00Z');
    polling.scheduler.start();
    await waitFor(async () => ((await jobsOf(c.id)).length === 1 ? true : undefined), { what: 'a job' });
    await polling.scheduler.stop();
    t = Date.parse('2026-11-28T10:02:00Z');
    // Stopped: the tick stays due until a scheduler takes it.
    expect(await nextFireAt(c.id)).toBe(Date.parse('2026-11-28T10:02:00Z'));
    expect((await one.scheduler.tick()).fired).toHaveLength(1);
    await polling.bus.close();
  });
});
