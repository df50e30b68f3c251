import { ensureInfraUp, infra, report, startFaultPlatform, tally, waitFor, type FaultPlatform } from './lib';

/**
 * Kafka stopped for 20 s in the middle of a burst of 200 submissions. Submissions keep being accepted
 * (jobconfig's outbox holds the records); once Kafka is back every job reaches a terminal status and a
 * plain consumer of the public status topic sees every transition of every job, without a gap.
 */
describe('faults: Kafka stopped for 20 s during a burst of 200 submissions', () => {
  let fp: FaultPlatform | undefined;

  afterAll(async () => {
    await ensureInfraUp();
    fp?.saveLogs('kafka-outage');
    await fp?.stop();
  }, 120_000);

  it('loses and duplicates nothing', async () => {
    fp = await startFaultPlatform({ runners: 2, env: { '*': { RUNNER_SLOTS: '4' } } });
    const f = fp;
    const configId = await f.createConfig('kafka outage', { workMs: 100 });
    const TOTAL = 200;
    const ids: string[] = [];
    const errors: { status: number; at: number }[] = [];
    let kafkaDown: Promise<number> | undefined;
    let next = 0;
    // A submission counts once it is answered 202; any other answer is retried (the client's job).
    const submitter = async () => {
      while (next < TOTAL) {
        next++;
        if (next === 50) kafkaDown = infra('down', 'kafka').then(() => Date.now());
        for (;;) {
          const r = await f.submitOnce(configId);
          if (r.id) {
            ids.push(r.id);
            break;
          }
          errors.push({ status: r.status, at: Date.now() });
          await new Promise((res) => setTimeout(res, 200));
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, submitter));
    const downAt = await kafkaDown;
    // The fault itself: Kafka stays down for 20 s.
    await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - (downAt ?? 0)))));
    await infra('up', 'kafka');

    const views = await f.waitTerminal(ids, 240_000);
    // The topic catches up after the API: wait for a terminal event of every job (bounded).
    await waitFor(
      () =>
        ids.every((id) => f.watcher.of(id).some((e) => ['FINISHED', 'ERROR', 'FAILED'].includes(e.status)))
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 500, what: 'a terminal status event of every job' },
    ).catch(() => undefined);
    const t = tally('kafka-outage', ids, views, f.watcher, f.recorder);
    report(t);
    expect(ids).toHaveLength(TOTAL);
    expect(errors).toEqual([]);
    expect({ lost: t.lost.length, duplicated: t.duplicated.length }).toEqual({ lost: 0, duplicated: 0 });
    expect(t.finished + t.failed).toBe(TOTAL);
  }, 420_000);
});
