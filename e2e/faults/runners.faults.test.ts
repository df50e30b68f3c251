import {
  FAULT_ENV,
  report,
  startFaultPlatform,
  tally,
  waitFor,
  type FaultPlatform,
  type JobView,
} from './lib';

/**
 * Runner faults and schedules, on platforms of their own (no shared infrastructure is stopped), run
 * at the same time so the 3-minute schedule scenario costs no extra wall time:
 * - kill -9 of a runner in the middle of jobs: with maxAttempts 2 they FINISH on another runner as
 *   attempt 2; with maxAttempts 1 they end FAILED runner-lost within the lease time;
 * - SIGTERM of a runner during jobs longer than its grace: handed back, run on the other runner,
 *   nothing lost, nothing finished twice;
 * - two jobconfig replicas and a schedule every minute over 3 minutes: exactly 3 scheduled jobs.
 */
const LEASE_MS = Number(FAULT_ENV.JOBS_LEASE_MS);

/** Submits `n` jobs and waits until each runs (its execution reported to the recorder). */
async function submitRunning(f: FaultPlatform, configId: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await f.submitOnce(configId);
    if (!r.id) throw new Error(`submission answered ${r.status}`);
    ids.push(r.id);
  }
  await waitFor(() => (ids.every((id) => f.recorder.of(id).length > 0) ? true : undefined), {
    timeoutMs: 90_000,
    intervalMs: 100,
    what: `${n} jobs running`,
  });
  return ids;
}

/** The runner holding most of these jobs' executions right now. */
function busiestRunner(f: FaultPlatform, ids: string[]): { name: string; jobs: string[] } {
  const by = new Map<string, string[]>();
  for (const id of ids) {
    const e = f.recorder.of(id).find((x) => x.endedAt === undefined);
    const name = e && f.runnerOf(e.ppid);
    if (name) by.set(name, [...(by.get(name) ?? []), id]);
  }
  const [name, jobs] = [...by.entries()].sort((a, b) => b[1].length - a[1].length)[0] ?? [];
  if (!name || !jobs) throw new Error('no runner holds a running job');
  return { name, jobs };
}

async function settle(f: FaultPlatform, ids: string[], timeoutMs: number): Promise<Map<string, JobView>> {
  const views = await f.waitTerminal(ids, timeoutMs);
  await waitFor(
    () =>
      ids.every((id) => f.watcher.of(id).some((e) => ['FINISHED', 'ERROR', 'FAILED'].includes(e.status)))
        ? true
        : undefined,
    { timeoutMs: 20_000, intervalMs: 250, what: 'a terminal status event of every job' },
  ).catch(() => undefined);
  return views;
}

describe('faults: runners and schedules', () => {
  const platforms: Record<string, FaultPlatform> = {};

  afterAll(async () => {
    await Promise.all(
      Object.entries(platforms).map(async ([name, f]) => {
        f.saveLogs(name);
        await f.stop();
      }),
    );
  }, 120_000);

  it.concurrent(
    'kill -9 of a runner mid-job: maxAttempts 2 finishes as attempt 2 elsewhere, maxAttempts 1 fails runner-lost within the lease',
    async () => {
      const f = (platforms['runner-kill'] = await startFaultPlatform({ runners: 3 }));

      // maxAttempts 2: the jobs of the killed runner run again on another one.
      const twice = await f.createConfig('kill -9, two attempts', { workMs: 8000, maxAttempts: 2 });
      const ids2 = await submitRunning(f, twice, 3);
      const victim2 = busiestRunner(f, ids2);
      const victimPid2 = f.platform.processes[victim2.name]?.pid;
      await f.platform.kill(victim2.name, 'SIGKILL');
      const views2 = await settle(f, ids2, 120_000);
      const t2 = tally('kill9-maxattempts-2', ids2, views2, f.watcher, f.recorder);
      report(t2);

      // maxAttempts 1: the jobs of the killed runner fail runner-lost, within the lease time.
      const once = await f.createConfig('kill -9, one attempt', { workMs: 8000, maxAttempts: 1 });
      const ids1 = await submitRunning(f, once, 2);
      const victim1 = busiestRunner(f, ids1);
      const killedAt = Date.now();
      await f.platform.kill(victim1.name, 'SIGKILL');
      const views1 = await settle(f, ids1, 120_000);
      const t1 = tally('kill9-maxattempts-1', ids1, views1, f.watcher, f.recorder);
      report(t1);

      expect({ lost: t2.lost.length, duplicated: t2.duplicated.length }).toEqual({ lost: 0, duplicated: 0 });
      for (const id of ids2) {
        const v = views2.get(id);
        if (victim2.jobs.includes(id)) {
          expect([id, v?.status, v?.attempt]).toEqual([id, 'FINISHED', 2]);
          const runs = f.recorder.of(id);
          expect(runs).toHaveLength(2);
          expect(runs[1]?.ppid).not.toBe(victimPid2);
          const requeued = f.watcher.of(id).find((e) => e.status === 'QUEUED' && e.attempt === 2);
          expect(requeued?.previousStatus).toBe('RUNNING');
        } else expect([id, v?.status, v?.attempt]).toEqual([id, 'FINISHED', 1]);
      }

      expect({ lost: t1.lost.length, duplicated: t1.duplicated.length }).toEqual({ lost: 0, duplicated: 0 });
      for (const id of ids1) {
        const v = views1.get(id);
        if (victim1.jobs.includes(id)) {
          expect([id, v?.status, v?.reason]).toEqual([id, 'FAILED', 'runner-lost']);
          const failedAt = f.watcher.of(id).find((e) => e.status === 'FAILED')?.at ?? Infinity;
          // The lease runs out LEASE_MS after the last heartbeat; a few seconds more for the sweep.
          expect(failedAt - killedAt).toBeLessThanOrEqual(LEASE_MS + 5000);
        } else expect([id, v?.status]).toEqual([id, 'FINISHED']);
      }
    },
    420_000,
  );

  it.concurrent(
    'SIGTERM of a runner during jobs: clean handover, no job lost, none finished twice',
    async () => {
      const f = (platforms['runner-sigterm'] = await startFaultPlatform({
        runners: 2,
        env: { '*': { RUNNER_GRACE_MS: FAULT_ENV.RUNNER_GRACE_MS } },
      }));
      // Jobs longer than the runner's grace: they cannot finish there and are handed back.
      const configId = await f.createConfig('sigterm', { workMs: 10_000 });
      const ids = await submitRunning(f, configId, 3);
      const victim = busiestRunner(f, ids);
      const exit = await f.platform.kill(victim.name, 'SIGTERM');
      const views = await settle(f, ids, 120_000);
      const t = tally('runner-sigterm', ids, views, f.watcher, f.recorder);
      report(t);

      expect(exit).toEqual({ code: 0, signal: null });
      expect({ lost: t.lost.length, duplicated: t.duplicated.length }).toEqual({ lost: 0, duplicated: 0 });
      for (const id of ids) expect([id, views.get(id)?.status]).toEqual([id, 'FINISHED']);
      // Started on the stopped runner and cut there, run again to its end on the other one.
      const other = f.platform.names.find((n) => n.startsWith('job-runner') && n !== victim.name);
      for (const id of victim.jobs) {
        const where = f.recorder.of(id).map((r) => `${f.runnerOf(r.ppid)}:${r.endedAt ? 'ended' : 'cut'}`);
        expect({ id, where, attempt: views.get(id)?.attempt }).toEqual({
          id,
          where: [`${victim.name}:cut`, `${other}:ended`],
          attempt: 2,
        });
      }
    },
    300_000,
  );

  it.concurrent(
    'two jobconfig replicas and a schedule every minute over 3 minutes: exactly 3 scheduled jobs',
    async () => {
      const f = (platforms.schedule = await startFaultPlatform({ runners: 1, jobconfigs: 2 }));
      const configId = await f.createConfig('every minute', { workMs: 100 });
      // Not right before a minute starts: the first firing must be the next full minute.
      await waitFor(() => (new Date().getUTCSeconds() < 50 ? true : undefined), {
        timeoutMs: 15_000,
        intervalMs: 200,
        what: 'a time well before the next minute',
      });
      const put = await f.api('PUT', `/api/jobconfigs/${configId}/schedule`, {
        token: f.token,
        json: { type: 'cron', cronSchedule: '0 * * * * ?', timeZone: 'UTC' },
      });
      expect([put.status, put.text]).toEqual([200, put.text]);
      const created = Date.now();
      const firstMinute = Math.ceil(created / 60_000) * 60_000;
      const lastMinute = firstMinute + 2 * 60_000;
      // Three minute marks pass, then a margin for the jobs to be created and run.
      await waitFor(async () => (Date.now() > lastMinute + 20_000 ? true : undefined), {
        timeoutMs: 4 * 60_000,
        intervalMs: 1000,
        what: 'three minute marks and 20 s',
      });
      const del = await f.api('DELETE', `/api/jobconfigs/${configId}/schedule`, { token: f.token });
      expect([200, 204]).toContain(del.status);
      const jobs = await f.jobs(configId);
      const ids = jobs.map((j) => j.id);
      const views = await settle(f, ids, 60_000);
      const t = tally('schedule-two-replicas', ids, views, f.watcher, f.recorder);
      const extra = Math.max(0, ids.length - 3);
      const missing = Math.max(0, 3 - ids.length);
      report({
        ...t,
        line: `scenario=schedule-two-replicas submitted=3 finished=${t.finished} failed=${t.failed}(${Object.entries(
          t.reasons,
        )
          .map(([r, n]) => `${r}=${n}`)
          .join(',')}) lost=${t.lost.length + missing} duplicated=${t.duplicated.length + extra}`,
      });
      expect(ids).toHaveLength(3);
      expect({ lost: t.lost.length, duplicated: t.duplicated.length }).toEqual({ lost: 0, duplicated: 0 });
      expect(t.finished).toBe(3);
    },
    420_000,
  );
});
