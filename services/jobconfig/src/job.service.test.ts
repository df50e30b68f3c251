import { decryptSecret, generateKeyringEntry, parseKeyring } from '@im/config';
import type { FileCatalogPort, JobStatusEvent, Principal } from '@im/contracts';
import { InProcessEventBus } from '@im/messaging';
import { waitFor } from '@im/testing';
import type { JobConfigModule } from './app';
import { moduleHarness, type ModuleHarness } from './routes.test-support';

const secrets = parseKeyring(generateKeyringEntry('test'));
/** Macros with their secure values decrypted (they are stored and sent encrypted: enc:v1:…). */
const opened = <M extends { value: string | null; secure: boolean }>(macros: M[]): M[] =>
  macros.map((m) => {
    if (!m.secure || m.value === null) return m;
    expect(m.value).toMatch(/^enc:v1:test:/);
    return { ...m, value: decryptSecret(m.value, secrets) };
  });

const admin: Principal = { id: '1', name: 'admin', roles: ['admin'], accountId: '1' };
const bob: Principal = { id: '2', name: 'bob', roles: ['user'], accountId: '1' };

/** A file catalog double: one attached package with two entry points. */
const files: FileCatalogPort = {
  exists: async (_p, _id, key) => key === 'p.djar',
  entryPoints: async () => ['main.process', 'other.mjs'],
};

describe('JobService state machine', () => {
  let h: ModuleHarness;
  let bus: InProcessEventBus;
  let mod: JobConfigModule;
  const events: JobStatusEvent[] = [];

  beforeEach(async () => {
    events.length = 0;
    h = await moduleHarness({
      files,
      secrets,
      before: (b) =>
        b.subscribe({ groupId: 'test', topic: 'job.status', handler: async (e) => void events.push(e) }),
    });
    ({ bus, mod } = h);
  });

  afterEach(() => h.close());

  const runnable = async (extra: Record<string, unknown> = {}) => {
    const c = await mod.configs.create(admin, { name: 'c', ...extra });
    return mod.configs.replace(admin, c.id, {
      name: 'c',
      ...extra,
      runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' },
    });
  };

  const report = (
    jobId: string,
    status: 'INITIALIZING' | 'RUNNING' | 'FINISHED' | 'ERROR' | 'FAILED',
    extra: Record<string, unknown> = {},
  ) =>
    mod.jobs.onProgress({
      jobId,
      attempt: 1,
      status,
      reason: null,
      returnCode: null,
      currentStep: null,
      runnerId: 'r',
      occurredAt: new Date().toISOString(),
      ...extra,
    });

  /** Until the outbox has published what `done` needs (it publishes after commit, asynchronously). */
  const published = (done: () => boolean) =>
    waitFor(() => (done() ? true : undefined), { what: 'the outbox to publish' });

  it('walks QUEUED → INITIALIZING → RUNNING → FINISHED and publishes one event per transition, numbered', async () => {
    const c = await runnable();
    const job = await mod.jobs.run(admin, c.id, {});
    expect(job.status).toBe('QUEUED');
    await report(job.id, 'INITIALIZING');
    await report(job.id, 'RUNNING');
    await report(job.id, 'FINISHED', { returnCode: 0 });
    await published(() => events.filter((e) => e.subject === job.id).length === 4);
    const mine = events.filter((e) => e.subject === job.id);
    expect(mine.map((e) => [e.data.previousStatus, e.data.status, e.data.sequence])).toEqual([
      [null, 'QUEUED', 1],
      ['QUEUED', 'INITIALIZING', 2],
      ['INITIALIZING', 'RUNNING', 3],
      ['RUNNING', 'FINISHED', 4],
    ]);
    expect(new Set(mine.map((e) => e.id)).size).toBe(4);
    const done = await mod.jobs.get(admin, job.id);
    expect(done).toMatchObject({ status: 'FINISHED', returnCode: 0 });
    expect(done.startedAt).not.toBeNull();
  });

  it('ignores illegal and duplicate transitions', async () => {
    const c = await runnable();
    const job = await mod.jobs.run(admin, c.id, {});
    await report(job.id, 'FINISHED'); // QUEUED → FINISHED is not allowed
    expect((await mod.jobs.get(admin, job.id)).status).toBe('QUEUED');
    await report(job.id, 'INITIALIZING');
    await report(job.id, 'INITIALIZING'); // duplicate
    await report(job.id, 'RUNNING');
    await report(job.id, 'FINISHED');
    await report(job.id, 'ERROR'); // terminal never changes
    expect((await mod.jobs.get(admin, job.id)).status).toBe('FINISHED');
    await published(() => events.filter((e) => e.subject === job.id).length >= 4);
    expect(events.filter((e) => e.subject === job.id).map((e) => e.data.sequence)).toEqual([1, 2, 3, 4]);
  });

  it('ignores reports about another attempt', async () => {
    const c = await runnable();
    const job = await mod.jobs.run(admin, c.id, {});
    await mod.jobs.onProgress({
      jobId: job.id,
      attempt: 2,
      status: 'INITIALIZING',
      reason: null,
      returnCode: null,
      currentStep: null,
      runnerId: 'r',
      occurredAt: new Date().toISOString(),
    });
    expect((await mod.jobs.get(admin, job.id)).status).toBe('QUEUED');
  });

  it('cancels a queued job at once, and asks a running job to stop', async () => {
    const c = await runnable();
    const cancels: string[] = [];
    await bus.subscribe({
      groupId: 'runner',
      topic: 'job.cancel',
      handler: async (m) => void cancels.push(m.jobId),
    });
    const queued = await mod.jobs.run(admin, c.id, {});
    expect(await mod.jobs.cancel(admin, queued.id)).toMatchObject({
      status: 'CANCELLED',
      stoppedBy: { id: '1' },
    });

    const running = await mod.jobs.run(admin, c.id, {});
    await report(running.id, 'INITIALIZING');
    await report(running.id, 'RUNNING');
    expect((await mod.jobs.cancel(admin, running.id)).status).toBe('RUNNING');
    await published(() => cancels.length >= 2);
    // A runner may already hold the queued job's request: it is told not to run it.
    expect(cancels).toEqual([queued.id, running.id]);
    await report(running.id, 'FAILED', { reason: 'internal-error' });
    expect(await mod.jobs.get(admin, running.id)).toMatchObject({
      status: 'FAILED',
      reason: 'stopped-by-user',
    });
  });

  it('runs a blocking configuration one job at a time, in submission order', async () => {
    const c = await runnable({ blocking: true });
    const first = await mod.jobs.run(admin, c.id, {});
    const second = await mod.jobs.run(admin, c.id, {});
    const third = await mod.jobs.run(admin, c.id, {});
    expect([first.status, second.status, third.status]).toEqual(['QUEUED', 'SEQUENCED', 'SEQUENCED']);
    await report(first.id, 'INITIALIZING');
    await report(first.id, 'RUNNING');
    await report(first.id, 'ERROR', { returnCode: 2 });
    expect((await mod.jobs.get(admin, second.id)).status).toBe('QUEUED');
    expect((await mod.jobs.get(admin, third.id)).status).toBe('SEQUENCED');
  });

  it("resolves macros for the runner: configuration values, then the run request's", async () => {
    const c = await runnable();
    await mod.configs.patch(admin, c.id, {
      runtimeConfig: {
        macros: [
          { key: 'A', value: 'config', secure: false },
          { key: 'S', value: 'secret', secure: true },
        ],
      },
    });
    const requests: { key: string; value: string; secure: boolean }[][] = [];
    await bus.subscribe({
      groupId: 'runner',
      topic: 'job.requests',
      handler: async (m) => void requests.push(m.macros),
    });
    await mod.jobs.run(admin, c.id, {
      runtimeConfig: { macros: [{ key: 'A', value: 'run', secure: false }] },
    });
    await published(() => requests.length >= 1);
    expect(opened(requests[0] ?? [])).toEqual([
      { key: 'A', value: 'run', secure: false },
      { key: 'S', value: 'secret', secure: true },
    ]);
  });

  it('fails jobs that were running when the platform stopped, and requests queued ones again', async () => {
    const c = await runnable();
    const running = await mod.jobs.run(admin, c.id, {});
    await report(running.id, 'INITIALIZING');
    const queued = await mod.jobs.run(admin, c.id, {});
    expect(await mod.jobs.recoverAfterRestart()).toEqual({ requeued: 1, failed: 1 });
    expect(await mod.jobs.get(admin, running.id)).toMatchObject({ status: 'FAILED', reason: 'runner-lost' });
    expect((await mod.jobs.get(admin, queued.id)).status).toBe('QUEUED');
  });

  it("hides another user's configurations and jobs", async () => {
    const c = await runnable();
    const job = await mod.jobs.run(admin, c.id, {});
    await expect(mod.configs.getFor(bob, c.id)).rejects.toMatchObject({ status: 404 });
    await expect(mod.jobs.get(bob, job.id)).rejects.toMatchObject({ status: 404 });
    expect((await mod.jobs.list(bob, {}, { page: 0, size: 25 })).total).toBe(0);
  });

  it("keeps a secure macro's value when a client sends the configuration back without it", async () => {
    const c = await runnable();
    await mod.configs.patch(admin, c.id, {
      runtimeConfig: { macros: [{ key: 'S', value: 'secret', secure: true }] },
    });
    const again = await mod.configs.patch(admin, c.id, {
      runtimeConfig: { macros: [{ key: 'S', secure: true }] },
    });
    expect(opened(again.macros)).toEqual([
      {
        key: 'S',
        value: 'secret',
        secure: true,
        description: null,
        // Bound when set, kept with the value (ADR 0016).
        binding: expect.objectContaining({
          packageName: 'p.djar',
          entryPoint: 'main.process',
          by: { id: '1', name: 'admin' },
        }),
      },
    ]);
  });
});
