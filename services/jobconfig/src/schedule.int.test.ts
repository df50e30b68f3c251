import type { FileCatalogPort, Principal } from '@im/contracts';
import { createDb, migrateLatest, migrateRollbackAll } from '@im/db';
import { silentLogger } from '@im/logging';
import { InProcessEventBus } from '@im/messaging';
import { infraEnv, uniqueName } from '@im/testing';
import { JobConfigRepository } from './job-config.repository';
import { JobConfigService } from './job-config.service';
import { jobconfigMigrations } from './jobconfig.migrations';
import { JobRepository } from './job.repository';
import { JobService } from './job.service';
import { Outbox } from './outbox';
import { ScheduleRepository } from './schedule.repository';
import { Scheduler, type SchedulerPass } from './schedule.scheduler';
import { ScheduleService } from './schedule.service';

const alice: Principal = { id: '1', name: 'alice', roles: ['user'], accountId: '1' };
const files: FileCatalogPort = { exists: async () => true, entryPoints: async () => ['main.process'] };
const T0 = Date.parse('2026-11-28T10:00:00.500Z');

/** Resolves for everyone once `n` callers have arrived; then it is ready for the next round. */
function barrier(n: number): () => Promise<void> {
  let waiting: (() => void)[] = [];
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === n) {
        for (const r of waiting) r();
        waiting = [];
      }
    });
}

/** One jobconfig replica: its own connection pool over the shared schema, on the fake clock. */
function replica(url: string, schema: string, now: () => number, meet: () => Promise<void>) {
  const db = createDb({ client: 'postgres', url, schema, poolMax: 4 });
  const bus = new InProcessEventBus(silentLogger());
  const jobRepo = new JobRepository(db);
  const configs = new JobConfigService(new JobConfigRepository(db), jobRepo, files, bus, silentLogger(), now);
  const jobs = new JobService(
    jobRepo,
    configs,
    files,
    new Outbox(db, bus, silentLogger()),
    silentLogger(),
    now,
  );
  const repo = new ScheduleRepository(db);
  // Both replicas read the due schedules before either claims one: every tick is a real race.
  const due = repo.due.bind(repo);
  repo.due = async (at, limit) => {
    const rows = await due(at, limit);
    await meet();
    return rows;
  };
  return {
    db,
    bus,
    configs,
    schedules: new ScheduleService(repo, configs, now),
    scheduler: new Scheduler(repo, configs, jobs, silentLogger(), { now }),
  };
}

/** Two jobconfig replicas on the real PostgreSQL racing for the same schedule. */
describe('Schedules on PostgreSQL', () => {
  const schema = uniqueName('schedules');
  const { pgUrl } = infraEnv();
  let t = T0;
  const now = () => t;
  const meet = barrier(2);
  const a = replica(pgUrl, schema, now, meet);
  const b = replica(pgUrl, schema, now, meet);

  beforeAll(async () => {
    await migrateLatest(a.db, jobconfigMigrations, schema);
  });

  afterAll(async () => {
    await Promise.all([a.bus.close(), b.bus.close()]);
    await b.db.destroy();
    await migrateRollbackAll(a.db, jobconfigMigrations, schema);
    await a.db.raw('drop schema if exists ?? cascade', [schema]);
    await a.db.destroy();
  });

  it('two schedulers over 3 minutes of a once-a-minute schedule create exactly 3 jobs, one per tick', async () => {
    const created = await a.configs.create(alice, { name: 'every minute' });
    const c = await a.configs.replace(alice, created.id, {
      name: 'every minute',
      runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' },
    });
    await a.schedules.put(alice, c.id, { type: 'cron', cronSchedule: '0 * * * * ?' });

    const passes: SchedulerPass[] = [];
    // The fake clock moves in 250 ms steps from 10:00:00.5 to 10:03:00.5; both replicas pass at each step.
    while (t < T0 + 3 * 60_000) {
      t += 250;
      passes.push(...(await Promise.all([a.scheduler.tick(), b.scheduler.tick()])));
    }

    const jobs = (await a
      .db('jobs')
      .where({ job_config_id: Number(c.id) })
      .orderBy('seq')) as { scheduled_at: string; submitted_by_id: string; status: string }[];
    expect(jobs.map((j) => new Date(Number(j.scheduled_at)).toISOString())).toEqual([
      '2026-11-28T10:01:00.000Z',
      '2026-11-28T10:02:00.000Z',
      '2026-11-28T10:03:00.000Z',
    ]);
    expect(jobs.every((j) => j.submitted_by_id === alice.id && j.status === 'QUEUED')).toBe(true);
    // Each tick was claimed by one replica and lost by the other.
    expect(passes.reduce((n, p) => n + p.fired.length, 0)).toBe(3);
    expect(passes.reduce((n, p) => n + p.lost, 0)).toBe(3);
    const outbox = (await a.db('outbox').count({ n: '*' }).first()) as { n: string };
    expect(Number(outbox.n)).toBe(6); // a status event and a runner request per job
    const [row] = (await a.db('schedules').where({ job_config_id: Number(c.id) })) as {
      next_fire_at: string;
    }[];
    expect(Number(row?.next_fire_at)).toBe(Date.parse('2026-11-28T10:04:00Z'));
  });

  it('deleting the configuration deletes its schedule (on delete cascade)', async () => {
    const c = await a.configs.create(alice, { name: 'gone' });
    await a.schedules.put(alice, c.id, { type: 'interval', intervalFrequency: 'PT5M' });
    await a.configs.delete(alice, c.id);
    expect(await a.db('schedules').where({ job_config_id: Number(c.id) })).toEqual([]);
  });
});
