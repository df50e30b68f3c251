import { ensureInfraUp, infra, report, startFaultPlatform, tally, waitFor, type FaultPlatform } from './lib';

/** After PostgreSQL answers again, the services get this long to reconnect before a 5xx counts. */
const RECOVERY_MS = 10_000;

/**
 * PostgreSQL restarted while jobs run and submissions keep coming. The services are not restarted:
 * they reconnect by themselves; no job is lost; 5xx answers (and refused connections) happen only
 * between the moment PostgreSQL is stopped and RECOVERY_MS after it serves again. A submission
 * counts once it is answered 202: the client retries every other answer (docs/faults.md).
 */
describe('faults: PostgreSQL restarted while jobs run', () => {
  let fp: FaultPlatform | undefined;

  afterAll(async () => {
    await ensureInfraUp();
    fp?.saveLogs('postgres-restart');
    await fp?.stop();
  }, 120_000);

  it('recovers without a restart, loses nothing, answers 5xx only during the outage', async () => {
    fp = await startFaultPlatform({ runners: 2 });
    const f = fp;
    const configId = await f.createConfig('postgres restart', { workMs: 2000 });
    const ids: string[] = [];
    const failures: { status: number; from: number; to: number }[] = [];
    let stop = false;
    const submitLoop = async () => {
      while (!stop) {
        for (;;) {
          const from = Date.now();
          const r = await f.submitOnce(configId);
          if (r.id) {
            ids.push(r.id);
            break;
          }
          failures.push({ status: r.status, from, to: Date.now() });
          if (stop) return;
          await new Promise((res) => setTimeout(res, 100));
        }
        await new Promise((res) => setTimeout(res, 500));
      }
    };
    // Readiness during the outage: jobconfig must say which dependency is down.
    const readiness: { status: number; database?: string }[] = [];
    const probeLoop = async () => {
      while (!stop) {
        try {
          const r = await fetch(`${f.platform.urls.jobconfig}/readyz`);
          const body = (await r.json()) as { checks?: { database?: { status: string } } };
          readiness.push({
            status: r.status,
            ...(body.checks?.database ? { database: body.checks.database.status } : {}),
          });
        } catch {
          readiness.push({ status: 0 });
        }
        await new Promise((res) => setTimeout(res, 200));
      }
    };
    const loops = [submitLoop(), probeLoop()];

    // Jobs are running (executions reported to the recorder) when PostgreSQL goes away.
    await waitFor(() => (f.recorder.running().length >= 2 ? true : undefined), {
      timeoutMs: 60_000,
      what: 'two jobs running',
    });
    const downFrom = Date.now();
    await infra('down', 'postgres');
    // Down until jobconfig's readiness has said so (a restart can be quicker than one probe on a
    // loaded machine); the assertion below then checks what it said.
    await waitFor(
      () => (readiness.some((r) => r.status === 503 && r.database === 'down') ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 100, what: "jobconfig's /readyz to report the database down" },
    ).catch(() => undefined);
    await infra('up', 'postgres');
    const upAt = Date.now();
    const windowEnd = upAt + RECOVERY_MS;
    // Keep submitting well past the window: nothing may fail there.
    await waitFor(() => (Date.now() > windowEnd + 10_000 ? true : undefined), {
      timeoutMs: RECOVERY_MS + 20_000,
      intervalMs: 250,
      what: 'submissions past the outage window',
    });
    stop = true;
    await Promise.all(loops);

    const views = await f.waitTerminal(ids, 120_000);
    await waitFor(
      () =>
        ids.every((id) => f.watcher.of(id).some((e) => ['FINISHED', 'ERROR', 'FAILED'].includes(e.status)))
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 500, what: 'a terminal status event of every job' },
    ).catch(() => undefined);
    const t = tally('postgres-restart', ids, views, f.watcher, f.recorder);
    report(t);
    const outside = failures.filter((x) => x.to < downFrom || x.from > windowEnd);
    process.stdout.write(
      `  outage ${(upAt - downFrom) / 1000} s; failed submissions ${failures.length} (5xx: ${failures.filter((x) => x.status >= 500).length}), outside the window: ${outside.length}\n`,
    );

    // No service restarted: every process still runs and answers ready.
    for (const [name, c] of Object.entries(f.platform.processes))
      expect([name, c.exitCode, c.signalCode]).toEqual([name, null, null]);
    for (const [name, url] of Object.entries(f.platform.urls))
      await waitFor(async () => ((await fetch(`${url}/readyz`)).ok ? true : undefined), {
        timeoutMs: 20_000,
        what: `${name} ready again`,
      });
    expect(readiness.some((r) => r.status === 503 && r.database === 'down')).toBe(true);
    expect(outside).toEqual([]);
    expect(failures.every((x) => x.status === 0 || x.status >= 500)).toBe(true);
    expect(ids.length).toBeGreaterThan(10);
    expect({ lost: t.lost.length, duplicated: t.duplicated.length }).toEqual({ lost: 0, duplicated: 0 });
  }, 360_000);
});
