import { createDb, migrateLatest, migrateRollbackAll, type Knex } from '@im/db';
import { infraEnv, uniqueName } from '@im/testing';
import { randomUUID } from 'node:crypto';
import { JobConfigRepository } from './job-config.repository';
import { jobconfigMigrations } from './jobconfig.migrations';
import { JobRepository, type JobRecord } from './job.repository';

/** The jobconfig repositories on the real PostgreSQL that scripts/infra starts, in a schema of their own. */
describe('jobconfig repositories on PostgreSQL', () => {
  const schema = uniqueName('jobconfig');
  let db: Knex;
  let configs: JobConfigRepository;
  let jobs: JobRepository;

  beforeAll(async () => {
    db = createDb({ client: 'postgres', url: infraEnv().pgUrl, schema, poolMax: 4 });
    expect(await migrateLatest(db, jobconfigMigrations, schema)).toEqual(
      jobconfigMigrations.map((m) => m.name),
    );
    configs = new JobConfigRepository(db);
    jobs = new JobRepository(db);
  });

  afterAll(async () => {
    await migrateRollbackAll(db, jobconfigMigrations, schema);
    await db.raw('drop schema if exists ?? cascade', [schema]);
    await db.destroy();
  });

  const writeOf = (name: string) => ({
    name,
    description: null,
    active: true,
    packageName: null,
    entryPoint: null,
    packageArtifactOverride: false,
    logLevel: 'INFO' as const,
    macros: [{ key: 'A', value: '1', secure: false, description: null }],
    timeoutMinutes: 0,
    blocking: false,
    maxAttempts: 2,
    schedule: null,
    tags: ['t'],
    updatedAt: 1000,
    updatedBy: { id: '1', name: 'admin' },
  });

  /** A QUEUED job of configuration `c`, as JobService.submit writes it. */
  const jobOf = (c: { id: string; name: string; maxAttempts: number }): Omit<JobRecord, 'eventSeq'> => ({
    id: randomUUID(),
    jobConfigId: c.id,
    jobConfigName: c.name,
    accountId: '1',
    ownerId: '1',
    status: 'QUEUED',
    reason: null,
    attempt: 1,
    returnCode: null,
    currentStep: null,
    packageName: 'p.djar',
    entryPoint: 'x.process',
    packageArtifactOverride: false,
    logLevel: 'INFO',
    timeoutMinutes: 0,
    runMacros: [],
    tags: [],
    submittedBy: { id: '1', name: 'admin' },
    stoppedBy: null,
    scheduledAt: 1,
    startedAt: null,
    finishedAt: null,
    updatedAt: 1,
    runnerId: null,
    leaseExpiresAt: null,
    maxAttempts: c.maxAttempts,
    handovers: 0,
  });

  it('stores configurations with numeric ids and pages them with sorting', async () => {
    const a = await configs.insert({ id: '1', name: 'admin', accountId: '1' }, writeOf('b-config'));
    const b = await configs.insert({ id: '1', name: 'admin', accountId: '1' }, writeOf('a-config'));
    await configs.insert({ id: '2', name: 'bob', accountId: '1' }, writeOf('c-config'));
    expect(a.id).toMatch(/^\d+$/);
    expect(await configs.findById(a.id)).toMatchObject({
      name: 'b-config',
      macros: [{ key: 'A', value: '1' }],
      tags: ['t'],
      ownerId: '1',
    });
    const page = await configs.page(
      { accountId: '1', ownerId: '1' },
      { page: 0, size: 1, sortby: 'name', direction: 'asc' },
    );
    expect(page.total).toBe(2);
    expect(page.rows.map((r) => r.id)).toEqual([b.id]);
  });

  it('moves a job only from the status it is in (compare-and-set), numbering events', async () => {
    const c = await configs.insert({ id: '1', name: 'admin', accountId: '1' }, writeOf('jobs'));
    const job = jobOf(c);
    await jobs.insert(job);
    const [first, second] = await Promise.all([
      jobs.transition(job.id, 'QUEUED', 'INITIALIZING', { startedAt: 5 }, 5),
      jobs.transition(job.id, 'QUEUED', 'CANCELLED', { finishedAt: 5 }, 5),
    ]);
    expect([first, second].filter(Boolean)).toHaveLength(1);
    const now = (await jobs.findById(job.id))!;
    expect(now.eventSeq).toBe(2);
    expect(await jobs.countUnfinished(c.id)).toBe(now.status === 'INITIALIZING' ? 1 : 0);
    expect(await jobs.transition(job.id, 'QUEUED', 'INITIALIZING', {}, 6)).toBeUndefined();
  });

  it('renews only the leases a runner holds, and finds the ones that ran out', async () => {
    const c = await configs.insert({ id: '1', name: 'admin', accountId: '1' }, writeOf('leases'));
    const base = jobOf(c);
    const [a, b] = [randomUUID(), randomUUID()];
    for (const id of [a, b]) {
      await jobs.insert({ ...base, id });
      await jobs.transition(id, 'QUEUED', 'INITIALIZING', { runnerId: 'r1', leaseExpiresAt: 100 }, 10);
    }
    expect(await jobs.findById(a)).toMatchObject({ runnerId: 'r1', leaseExpiresAt: 100, maxAttempts: 2 });
    const renewed = await jobs.renewLeases(
      'r1',
      [
        { jobId: a, attempt: 1 },
        { jobId: b, attempt: 2 }, // not its attempt
      ],
      500,
    );
    expect([...renewed]).toEqual([`${a}#1`]);
    expect((await jobs.renewLeases('r2', [{ jobId: a, attempt: 1 }], 900)).size).toBe(0);
    expect((await jobs.expiredLeases(200)).map((j) => j.id)).toEqual([b]);
    // The re-queue: a new attempt, the runner and its lease cleared, in one compare-and-set.
    const [x, y] = await Promise.all([
      jobs.transition(
        b,
        'INITIALIZING',
        'QUEUED',
        { attempt: 2, runnerId: null, leaseExpiresAt: null },
        20,
        undefined,
        1,
      ),
      jobs.transition(
        b,
        'INITIALIZING',
        'QUEUED',
        { attempt: 2, runnerId: null, leaseExpiresAt: null },
        20,
        undefined,
        1,
      ),
    ]);
    expect([x, y].filter(Boolean)).toHaveLength(1);
    expect(await jobs.findById(b)).toMatchObject({
      status: 'QUEUED',
      attempt: 2,
      runnerId: null,
      leaseExpiresAt: null,
    });
    expect(await jobs.leaseHolders()).toEqual(['r1']);
    expect(await jobs.extendLeases(1000, ['r1'])).toBe(0); // r1 was heard: its leases run normally
    expect(await jobs.extendLeases(1000)).toBe(1); // a's lease, the only one running
    expect((await jobs.findById(a))?.leaseExpiresAt).toBe(1000);
  });
});
