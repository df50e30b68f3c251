/**
 * A JobRunner on an in-process bus and local storage, playing jobconfig's part in claims, for the
 * runner's tests (runner.test.ts, runner.isolation.test.ts). Tests run the compiled executor.
 */
import type { JobCancelRequested, JobProgress, JobRequested } from '@im/contracts';
import { silentLogger } from '@im/logging';
import { InProcessEventBus } from '@im/messaging';
import { LocalObjectStorage, type ObjectStorage } from '@im/storage';
import { buildZip, type ZipEntrySpec } from '@im/testing';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { JobRunner, type JobRunnerDeps } from './runner';

export const EXECUTOR = path.resolve(__dirname, '..', 'dist', 'executor', 'child.js');
/** What a runner reports last of an attempt: its outcome, or RELEASED when it hands it back. */
export const TERMINAL = new Set(['FINISHED', 'ERROR', 'FAILED', 'RELEASED']);
export const PREFIX = 'configuration/cfg-1';

let seq = 0;

export function jobRequest(overrides: Partial<JobRequested> = {}): JobRequested {
  const jobId = overrides.jobId ?? `job-${++seq}`;
  return {
    jobId,
    attempt: 1,
    jobConfigId: 'cfg-1',
    packagePrefix: PREFIX,
    packageName: 'pkg.djar',
    entryPoint: 'main.process',
    packageArtifactOverride: false,
    logLevel: 'INFO',
    timeoutMinutes: 0,
    macros: [],
    logKey: `jobs/${jobId}/log.txt`,
    outPrefix: `jobs/${jobId}/out/`,
    requestedAt: '2026-11-28T10:15:30.000Z',
    ...overrides,
  };
}

export async function readText(storage: ObjectStorage, key: string): Promise<string | null> {
  const obj = await storage.get(key);
  if (!obj) return null;
  const chunks: Buffer[] = [];
  for await (const c of obj.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function listTree(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { withFileTypes: true, recursive: true });
  return entries.map((e) => path.relative(root, path.join(e.parentPath, e.name))).sort();
}

export interface Harness {
  dir: string;
  workDir: string;
  storage: LocalObjectStorage;
  bus: InProcessEventBus;
  runner: JobRunner;
  /** Every progress message, in the order the bus delivered them. */
  progress: JobProgress[];
  /** The job log as storage held it when the terminal progress arrived. */
  logAtTerminal: Map<string, string | null>;
  putPackage(entries: Record<string, string> | ZipEntrySpec[] | Buffer, name?: string): Promise<void>;
  run(req: JobRequested): Promise<JobProgress>;
  next(pred: (p: JobProgress) => boolean): Promise<JobProgress>;
  statuses(jobId: string): string[];
}

/** Plays jobconfig's part in claims: grants each (the default), refuses it, or stays silent (null). */
export type LeasePolicy = (claim: JobProgress) => { granted: boolean; reason?: string } | null;

export async function createHarness(
  deps: Partial<JobRunnerDeps> = {},
  storageOverride?: (s: LocalObjectStorage) => ObjectStorage,
  leasePolicy: LeasePolicy = () => ({ granted: true }),
): Promise<Harness> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-runner-test-'));
  const workDir = path.join(dir, 'work');
  const storage = await LocalObjectStorage.open(path.join(dir, 'objects'));
  const bus = new InProcessEventBus(silentLogger());
  const progress: JobProgress[] = [];
  const logAtTerminal = new Map<string, string | null>();
  const waiters: { pred: (p: JobProgress) => boolean; resolve: (p: JobProgress) => void }[] = [];
  await bus.subscribe({
    groupId: 'test.progress',
    topic: 'job.progress',
    handler: async (p) => {
      if (TERMINAL.has(p.status))
        logAtTerminal.set(p.jobId, await readText(storage, `jobs/${p.jobId}/log.txt`));
      progress.push(p);
      const answer = p.status === 'INITIALIZING' ? leasePolicy(p) : null;
      if (answer)
        await bus.publish('job.leases', {
          jobId: p.jobId,
          attempt: p.attempt,
          runnerId: p.runnerId,
          granted: answer.granted,
          leaseMs: 30_000,
          reason: answer.reason ?? null,
          occurredAt: new Date().toISOString(),
        });
      for (const w of [...waiters]) {
        if (w.pred(p)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(p);
        }
      }
    },
  });
  const runner = new JobRunner({
    bus,
    storage: storageOverride ? storageOverride(storage) : storage,
    logger: silentLogger(),
    workDir,
    slots: 2,
    runnerId: 'runner-1',
    executorPath: EXECUTOR,
    logFlushMs: 20,
    ...deps,
  });
  await runner.start();
  const next = (pred: (p: JobProgress) => boolean) => {
    const seen = progress.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise<JobProgress>((resolve) => waiters.push({ pred, resolve }));
  };
  const h: Harness = {
    dir,
    workDir,
    storage,
    bus,
    runner,
    progress,
    logAtTerminal,
    async putPackage(entries, name = 'pkg.djar') {
      const zip = Buffer.isBuffer(entries) ? entries : await buildZip(entries);
      await storage.put(`${PREFIX}/${name}`, Readable.from([zip]));
    },
    async run(req) {
      const done = next((p) => p.jobId === req.jobId && TERMINAL.has(p.status));
      await bus.publish('job.requests', req);
      return done;
    },
    next,
    statuses: (jobId) =>
      progress
        .filter((p) => p.jobId === jobId)
        .map((p) => (p.currentStep && p.status === 'RUNNING' ? `RUNNING:${p.currentStep}` : p.status)),
  };
  harnesses.push(h);
  return h;
}

const harnesses: Harness[] = [];

/** Stops every runner made since the last call and removes its directories (call in afterEach). */
export async function closeHarnesses(): Promise<void> {
  for (const h of harnesses.splice(0)) {
    await h.runner.stop(0);
    await h.bus.close();
    await fs.rm(h.dir, { recursive: true, force: true });
  }
}

/** Throws when the compiled executor is missing (call in beforeAll). */
export function requireExecutor(): void {
  if (!existsSync(EXECUTOR))
    throw new Error(
      `The compiled executor is missing at ${EXECUTOR}: run "npx tsc -b services/job-runner" first.`,
    );
}

export const cancel = (req: JobRequested): JobCancelRequested => ({
  jobId: req.jobId,
  attempt: req.attempt,
  stoppedByUserId: 'u-1',
  requestedAt: new Date().toISOString(),
});
