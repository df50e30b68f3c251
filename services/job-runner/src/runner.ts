import type {
  JobCancelRequested,
  JobLease,
  JobProgress,
  JobRequested,
  LogLevel,
  PackageManifest,
} from '@im/contracts';
import { decryptSecret, SecretDecryptionError, type SecretsKeyring } from '@im/config';
import type { Logger } from '@im/logging';
import type { EventBus, Subscription } from '@im/messaging';
import {
  JOB_BUCKETS,
  ROOT_CONTEXT,
  SpanKind,
  context,
  histogram,
  inSpan,
  sampledGauge,
  trace,
  tracer,
} from '@im/observability';
import type { ObjectStorage } from '@im/storage';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { ExecutorLauncher } from './executor.launcher';
import {
  signalExitCode,
  type ExecutorExit,
  type ExecutorHandlers,
  type ExecutorProcess,
} from './executor.supervisor';
import type { ExecutorSpec, ObjectStorageAccess } from './executor/executor.protocol';
import { outcomeOf, type FailureCause, type JobResult, type TerminalOutcome } from './failure-cause';
import { attemptDirName, JobWorkspace } from './job.workspace';
import { JobLogWriter } from './job-log.writer';
import { PackageCache } from './package.cache';
import { MANIFEST_FILE, readManifest, resolveMacros } from './package.manifest';
import { PackageUnusableError } from './package-unusable.error';
import { DEFAULT_UNPACK_LIMITS, type UnpackLimits } from './package.unpacker';
import { Semaphore } from './semaphore';
import { describeLimitHit, type OsSandboxSettings } from './sandbox/os-sandbox';
import type { WarmExecutor } from './warm-executors';

export interface JobRunnerDeps {
  bus: EventBus;
  storage: ObjectStorage;
  logger: Logger;
  /** Where attempts unpack and run; one sub-directory per attempt. */
  workDir: string;
  /** Object storage offered to packages (the `object` connector); none when undefined. */
  packageObjectStorage?: ObjectStorageAccess;
  /** Jobs run at the same time. */
  slots: number;
  /** Names this runner in progress messages and in its cancel consumer group. */
  runnerId: string;
  /** The compiled executor; default: executor/child.js next to this file. */
  executorPath?: string;
  /** Job log uploads while a job runs, at most this often (ms). Default 1000. */
  logFlushMs?: number;
  /** Consumer group for job requests (shared by all runners). Default 'job-runner'. */
  groupId?: string;
  /** Length of one timeout unit; the contract counts minutes. Tests shrink it. Default 60000. */
  timeoutUnitMs?: number;
  /** Between SIGTERM and SIGKILL when a job is stopped (ms). Default 3000. */
  killGraceMs?: number;
  /**
   * Run the executor under Node's permission model (see executor.sandbox.ts): it reads only its job's
   * directory and its own code, writes only the job's spec/, out/ and tmp/, and starts no processes,
   * worker threads or native addons. Default true.
   */
  sandbox?: boolean;
  /**
   * The OS sandbox around every executor (ADR 0013: bubblewrap, a user id of its own, namespaces,
   * control group, rlimits). Undefined or null: executors run as plain child processes of the runner
   * (tests, trusted packages); the services' configuration turns it on by default (JOBS_ISOLATION).
   */
  isolation?: Omit<OsSandboxSettings, 'memoryMb'> | null;
  /** Heap cap of each executor (V8 old space), MiB. Default 512. */
  memoryMb?: number;
  /** Raw packages kept under `<workDir>/cache` to skip unchanged downloads, bytes; 0 turns it off. Default 1 GiB. */
  packageCacheBytes?: number;
  /** Keep each attempt's directory after the job (for debugging). Default false. */
  keepWorkDirs?: boolean;
  /** Executors started ahead of their jobs (warm-executors.ts); 0 starts each job's cold. Default 0. */
  warmExecutors?: number;
  unpackLimits?: Partial<UnpackLimits>;
  /**
   * Longest time between two heartbeats (ms); the runner beats at least three times per lease
   * jobconfig grants. Default 5000.
   */
  heartbeatMs?: number;
  /** A claim jobconfig has not answered is sent again after this long (ms). Default 5000. */
  claimRetryMs?: number;
  /** PATH handed to the executor. Default: the runner's own. */
  executorSearchPath?: string;
  /**
   * The keyring secure macro values arrive encrypted with on job.requests (SECRETS_ENCRYPTION_KEYS,
   * the same as jobconfig's). None: only legacy plain values can be used; an encrypted one fails
   * the job.
   */
  secrets?: SecretsKeyring;
  clock?: () => Date;
}

/**
 * Why the runner stops an executor: a timeout or a user (the job ends FAILED with that reason), or
 * the attempt leaves this runner: handed back at shutdown (`handover`, re-queued) or its lease was
 * revoked (`lease-lost`: jobconfig gave the job to a new attempt or failed it).
 */
type StopCause = Extract<FailureCause, 'timeout' | 'stopped-by-user'> | 'handover' | 'lease-lost';

/** What a stop cause becomes in the job's result (only timeouts and users' stops are reported). */
function failureOf(cause: StopCause): FailureCause {
  return cause === 'timeout' || cause === 'stopped-by-user' ? cause : 'runner-lost';
}

/** jobconfig's answer to a claim, or `handover` when the runner gives up waiting at shutdown. */
type ClaimAnswer = { granted: boolean; reason: string | null };

interface Claim {
  readonly answer: Promise<ClaimAnswer>;
  resolve(a: ClaimAnswer): void;
}

interface ActiveJob {
  readonly req: JobRequested;
  readonly key: string;
  readonly logger: Logger;
  /** Set once the job holds a slot (from then on, a shutdown past its grace period stops it). */
  started: boolean;
  /** Why the runner stops it, once it does; the first cause wins. */
  stopCause: StopCause | undefined;
  readonly abort: AbortController;
  child: ExecutorProcess | undefined;
  /** The pre-started executor this job took, if any; terminated unless the job ran in it. */
  warm: WarmExecutor | undefined;
  jobLog: JobLogWriter | undefined;
  /** What the executor reported when it broke (a platform failure, not the package's). */
  fatal: string | undefined;
  currentStep: string | null;
  /** RUNNING + currentStep messages, published in order. */
  stepUpdates: Promise<void>;
  /** Hints already written to the log (the sandbox refused something, out of memory). */
  hinted: Set<string>;
  /** Which version of the package was fetched (object key, ETag, size), once it was. */
  fetched?: string;
  /** The claim sent to jobconfig, until it answers. */
  claim: Claim | undefined;
  /** jobconfig's answer to the claim, once sent: the job prepares meanwhile and runs only once granted. */
  answer: Promise<ClaimAnswer> | undefined;
  /** Lets the request's message go (called once jobconfig answered the claim). */
  answered: () => void;
  /** Set once jobconfig granted the lease: from then on the runner heartbeats for the attempt. */
  granted: boolean;
}

export const DEFAULT_KILL_GRACE_MS = 3000;
export const DEFAULT_MEMORY_MB = 512;
export const DEFAULT_PACKAGE_CACHE_BYTES = 1024 * 1024 * 1024;

const REMEMBERED_OUTCOMES = 1000;
const TERMINAL_PUBLISH_ATTEMPTS = 3;
/** How long a granted job's RUNNING report and outcome are retried while the bus fails (ms). */
const PERSISTENT_PUBLISH_MS = 5 * 60_000;

/** Where the compiled executor is: next to the compiled runner, or in dist/ when running from sources. */
export function defaultExecutorPath(): string {
  const candidates = [
    path.resolve(__dirname, 'executor', 'child.js'),
    path.resolve(__dirname, '..', 'dist', 'executor', 'child.js'),
  ];
  return candidates.find((c) => existsSync(c)) ?? (candidates[0] as string);
}

function jobKey(jobId: string, attempt: number): string {
  return `${jobId}#${attempt}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([p.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

/**
 * Takes job requests from the bus and runs each attempt in a forked executor: fetch and unpack the
 * package safely, run the entry point with a timeout, upload output files and the job log, report
 * progress. The request handler holds its message until the job is over (a slot first, then the
 * job), so the bus's ordering and at-least-once delivery hold; jobId + attempt is the idempotency key.
 */
const claimSeconds = histogram(
  'im_runner_claim_seconds',
  "Time from a runner's claim (INITIALIZING) to jobconfig's answer (the lease granted or refused).",
  [],
  JOB_BUCKETS,
);

export class JobRunner {
  private readonly logger: Logger;
  private readonly slots: Semaphore;
  private readonly active = new Map<string, ActiveJob>();
  /** Terminal progress of recent attempts, reported again when a request is redelivered. */
  private readonly outcomes = new Map<string, JobProgress>();
  /** Package versions (object key, ETag, size) already kept in storage, and their sha256. */
  private readonly archivedPackages = new Map<string, string>();
  /** Cancels of attempts this runner did not hold (yet): a request arriving later is not run. */
  private readonly cancelledEarly = new Set<string>();
  private readonly intake = new AbortController();
  private readonly executorPath: string;
  private readonly unpackLimits: UnpackLimits;
  private readonly cache: PackageCache;
  private readonly launcher: ExecutorLauncher;
  private requests: Subscription | undefined;
  private cancels: Subscription | undefined;
  private requestsClosed: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  /** One promise per held attempt; settles when the attempt is over (or was never started). */
  private readonly handling = new Set<Promise<void>>();
  private leases: Subscription | undefined;
  /** Aborted when the shutdown grace period is over: what still runs is handed back. */
  private readonly handover = new AbortController();
  /** The shortest lease jobconfig granted (heartbeats come at least three times per lease). */
  private leaseMs = Number.POSITIVE_INFINITY;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly gauges: (() => void)[] = [];

  constructor(private readonly deps: JobRunnerDeps) {
    this.logger = deps.logger.child({ component: 'job-runner', runnerId: deps.runnerId });
    this.slots = new Semaphore(deps.slots);
    this.executorPath = deps.executorPath ?? defaultExecutorPath();
    this.unpackLimits = { ...DEFAULT_UNPACK_LIMITS, ...deps.unpackLimits };
    this.launcher = new ExecutorLauncher({
      executorPath: this.executorPath,
      workDir: deps.workDir,
      logger: this.logger,
      permissionModel: deps.sandbox ?? true,
      isolation: deps.isolation ?? null,
      memoryMb: deps.memoryMb ?? DEFAULT_MEMORY_MB,
      warmExecutors: deps.warmExecutors ?? 0,
      killGraceMs: deps.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      searchPath: deps.executorSearchPath ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    });
    this.cache = new PackageCache(
      path.join(deps.workDir, 'cache'),
      deps.packageCacheBytes ?? DEFAULT_PACKAGE_CACHE_BYTES,
      this.logger.child({ component: 'package-cache' }),
    );
  }

  get runnerId(): string {
    return this.deps.runnerId;
  }

  /** Attempts held by this runner (running, or waiting for a slot). */
  get activeJobs(): number {
    return this.active.size;
  }

  /** Process ids of pre-started executors waiting for a job (none without `warmExecutors`). */
  get warmExecutorPids(): number[] {
    return this.launcher.idlePids;
  }

  get isStopping(): boolean {
    return this.intake.signal.aborted;
  }

  async start(): Promise<void> {
    if (this.requests) throw new Error('The job runner is started already.');
    if (!existsSync(this.executorPath)) {
      throw new Error(
        `The executor is missing at ${this.executorPath}; build the job runner first (npx tsc -b services/job-runner).`,
      );
    }
    await fs.mkdir(this.deps.workDir, { recursive: true, mode: 0o700 });
    await this.launcher.start();
    await this.cache.init();
    this.gauges.push(
      sampledGauge('im_runner_slots', 'Job slots of the runner (JOBS_SLOTS).', undefined, () => ({
        value: this.slots.size,
      })),
      sampledGauge('im_runner_slots_in_use', 'Job slots running a job now.', undefined, () => ({
        value: this.slots.size - this.slots.available,
      })),
    );
    // Lease answers and cancels before requests, so none for a job taken is missed. A group per
    // runner: every runner sees every answer and every cancel, and acts on its own.
    this.leases = await this.deps.bus.subscribe({
      groupId: `job-runner.leases.${this.deps.runnerId}`,
      topic: 'job.leases',
      concurrency: 4,
      handler: (l) => this.onLease(l),
    });
    this.cancels = await this.deps.bus.subscribe({
      groupId: `job-runner.cancel.${this.deps.runnerId}`,
      topic: 'job.cancel',
      handler: (c) => this.onCancel(c),
    });
    this.requests = await this.deps.bus.subscribe({
      groupId: this.deps.groupId ?? 'job-runner',
      topic: 'job.requests',
      // As many requests in hand as there are slots (on Kafka, one partition each).
      concurrency: this.deps.slots,
      handler: (r) => this.onRequest(r),
    });
    this.logger.info(
      {
        slots: this.deps.slots,
        workDir: this.deps.workDir,
        ...this.launcher.describe(),
        memoryMb: this.deps.memoryMb ?? DEFAULT_MEMORY_MB,
        packageCacheBytes: this.deps.packageCacheBytes ?? DEFAULT_PACKAGE_CACHE_BYTES,
      },
      'job runner started',
    );
  }

  /** Takes no new jobs; jobs waiting for a slot are left to redelivery (or jobconfig's recovery). */
  stopIntake(): void {
    if (this.intake.signal.aborted) return;
    this.intake.abort();
    this.requestsClosed = this.requests?.close() ?? Promise.resolve();
  }

  /**
   * Stops intake (requests waiting for a slot are handed back at once), lets running jobs finish for
   * up to `graceMs`, then stops the rest and hands them back: jobconfig re-queues them as a new
   * attempt for another runner. Resolves once every job is reported and the subscriptions are closed.
   * Later calls return the same promise.
   */
  stop(graceMs = 0): Promise<void> {
    this.stopped ??= this.drain(graceMs);
    return this.stopped;
  }

  private async drain(graceMs: number): Promise<void> {
    this.stopIntake();
    const all = Promise.allSettled([...this.handling]);
    if (!(await settlesWithin(all, graceMs))) {
      this.logger.warn(
        { graceMs, jobs: this.active.size },
        'grace period over; stopping the jobs still running',
      );
      this.handover.abort();
      for (const job of this.active.values()) if (job.started) this.stopJob(job, 'handover');
    }
    await all;
    this.stopHeartbeats();
    await this.requestsClosed;
    await Promise.all([this.cancels?.close(), this.leases?.close()]);
    await this.launcher.close();
    for (const unregister of this.gauges.splice(0)) unregister();
    this.logger.info('job runner stopped');
  }

  private async onRequest(req: JobRequested): Promise<void> {
    const key = jobKey(req.jobId, req.attempt);
    const logger = this.logger.child({ jobId: req.jobId, attempt: req.attempt });
    if (this.active.has(key)) {
      logger.info('request for an attempt this runner is executing; ignored');
      return;
    }
    const known = this.outcomes.get(key);
    if (known) {
      logger.info(
        { status: known.status },
        'request for an attempt this runner already ran; its outcome is reported again',
      );
      await this.publishRetrying(known);
      return;
    }
    if (this.cancelledEarly.has(key)) {
      logger.info('request for an attempt cancelled before it arrived; not run');
      return;
    }
    if (this.isStopping) {
      logger.info('runner is stopping; handing the request back');
      await this.publishRetrying(this.progress(req, 'RELEASED'));
      return;
    }
    const job: ActiveJob = {
      req,
      key,
      logger,
      started: false,
      stopCause: undefined,
      abort: new AbortController(),
      child: undefined,
      warm: undefined,
      jobLog: undefined,
      fatal: undefined,
      currentStep: null,
      stepUpdates: Promise.resolve(),
      hinted: new Set(),
      claim: undefined,
      answer: undefined,
      answered: () => undefined,
      granted: false,
    };
    this.active.set(key, job);
    const done = this.take(job).finally(() => {
      this.active.delete(key);
      this.handling.delete(done);
    });
    this.handling.add(done);
    // The request is let go of once jobconfig answered the claim: from then on the lease, not the
    // bus's redelivery, looks after the job (jobconfig re-queues it if this runner dies). Holding the
    // message for the whole job would keep kafkajs from fetching other partitions meanwhile.
    const answered = new Promise<void>((resolve) => (job.answered = resolve));
    await Promise.race([done, answered]);
    done.catch((err: unknown) =>
      logger.error({ err }, 'the job ended with an error after its request was let go'),
    );
  }

  private take(job: ActiveJob): Promise<void> {
    // One span per attempt on this runner, in the trace of the job's request (claim, prepare, execute).
    return inSpan(
      'job',
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'im.job.id': job.req.jobId,
          'im.job.attempt': job.req.attempt,
          'im.runner.id': this.deps.runnerId,
        },
      },
      () => this.takeSlot(job),
    );
  }

  private async takeSlot(job: ActiveJob): Promise<void> {
    const release = await this.slots.acquire(this.intake.signal);
    if (!release) {
      // Its request was taken from the topic: without this, nobody would run it.
      job.logger.info('runner stopping before the job got a slot; handing the request back');
      await this.publishRetrying(this.progress(job.req, 'RELEASED'));
      return;
    }
    try {
      if (job.stopCause === 'stopped-by-user') {
        job.logger.info('stopped by a user before it started; not run');
        return;
      }
      job.started = true;
      const progress = await this.execute(job);
      if (!progress) return;
      if (progress.status !== 'RELEASED') remember(this.outcomes, job.key, progress, REMEMBERED_OUTCOMES);
      // Its request is gone from the bus: the outcome must get out (a Kafka outage delays it).
      await this.publishRetrying(progress, job.granted ? PERSISTENT_PUBLISH_MS : 0);
    } finally {
      release();
    }
  }

  /** jobconfig's answer to a claim of this runner, or the revocation of a lease it holds. */
  private onLease(l: JobLease): Promise<void> {
    if (l.runnerId !== this.deps.runnerId) return Promise.resolve();
    const job = this.active.get(jobKey(l.jobId, l.attempt));
    if (!job) return Promise.resolve();
    if (l.granted) this.noteLease(l.leaseMs);
    if (job.claim) {
      job.claim.resolve({ granted: l.granted, reason: l.reason });
      return Promise.resolve();
    }
    if (!l.granted && job.granted) {
      job.logger.warn({ reason: l.reason }, 'lease revoked by jobconfig; stopping the job here');
      this.stopJob(job, 'lease-lost');
    }
    return Promise.resolve();
  }

  /**
   * Claims the attempt. Resolves once the claim is sent (throws if it cannot be: the request is then
   * delivered again) with jobconfig's answer to come; the claim is sent again while unanswered. A
   * grant starts the heartbeats.
   */
  private async claim(job: ActiveJob): Promise<{ answer: Promise<ClaimAnswer> }> {
    // The claim's span lasts until jobconfig answers; the INITIALIZING report is sent in it.
    const span = tracer().startSpan('claim', {
      attributes: { 'im.job.id': job.req.jobId, 'im.job.attempt': job.req.attempt },
    });
    const claimedAt = process.hrtime.bigint();
    try {
      const claimed = await context.with(trace.setSpan(context.active(), span), () => this.sendClaim(job));
      void claimed.answer.then(
        (a) => {
          claimSeconds.observe(Number(process.hrtime.bigint() - claimedAt) / 1e9);
          span.setAttribute('im.claim.granted', a.granted);
          span.end();
        },
        () => span.end(),
      );
      return claimed;
    } catch (err) {
      span.end();
      throw err;
    }
  }

  private async sendClaim(job: ActiveJob): Promise<{ answer: Promise<ClaimAnswer> }> {
    let resolve!: Claim['resolve'];
    const answer = new Promise<ClaimAnswer>((r) => (resolve = r));
    job.claim = { answer, resolve };
    const onHandover = () => resolve({ granted: false, reason: 'handover' });
    const retryMs = this.deps.claimRetryMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const send = async (): Promise<void> => {
      try {
        await this.deps.bus.publish('job.progress', this.progress(job.req, 'INITIALIZING'));
      } catch (err) {
        job.logger.warn({ err }, 'could not send the claim; trying again');
      }
      if (job.claim) timer = setTimeout(() => void send(), retryMs);
    };
    // The request stays in hand until the claim is out: while the bus fails it is tried again (the
    // runner stopping gives up, leaving the request to the group's next member).
    for (let tries = 1; ; tries++) {
      try {
        await this.deps.bus.publish('job.progress', this.progress(job.req, 'INITIALIZING'));
        break;
      } catch (err) {
        if (this.isStopping) {
          job.claim = undefined;
          throw err;
        }
        if (tries === 1 || tries % 20 === 0)
          job.logger.warn({ err, tries }, 'could not send the claim; trying again');
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(tries, 6))));
      }
    }
    this.handover.signal.addEventListener('abort', onHandover, { once: true });
    if (this.handover.signal.aborted) onHandover();
    timer = setTimeout(() => void send(), retryMs);
    const settled = answer.then((a) => {
      job.answered();
      clearTimeout(timer);
      this.handover.signal.removeEventListener('abort', onHandover);
      job.claim = undefined;
      if (a.granted) {
        job.granted = true;
        this.scheduleHeartbeat();
      }
      return a;
    });
    return { answer: settled };
  }

  private noteLease(leaseMs: number): void {
    if (leaseMs >= this.leaseMs) return;
    this.leaseMs = leaseMs;
    if (this.heartbeatTimer) {
      this.stopHeartbeats();
      this.scheduleHeartbeat();
    }
  }

  private get heartbeatEveryMs(): number {
    return Math.max(50, Math.min(this.deps.heartbeatMs ?? 5000, Math.floor(this.leaseMs / 3)));
  }

  private scheduleHeartbeat(): void {
    if (this.heartbeatTimer) return;
    // Heartbeats name every job of the runner: they belong to no job's trace.
    this.heartbeatTimer = context.with(ROOT_CONTEXT, () =>
      setTimeout(() => {
        this.heartbeatTimer = undefined;
        void this.beat().finally(() => {
          if ([...this.active.values()].some((j) => j.granted)) this.scheduleHeartbeat();
        });
      }, this.heartbeatEveryMs),
    );
  }

  private stopHeartbeats(): void {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /** One heartbeat naming every attempt this runner holds a lease on. */
  private async beat(): Promise<void> {
    const jobs = [...this.active.values()]
      .filter((j) => j.granted)
      .map((j) => ({ jobId: j.req.jobId, attempt: j.req.attempt }));
    if (jobs.length === 0) return;
    try {
      await this.deps.bus.publish('job.heartbeats', {
        runnerId: this.deps.runnerId,
        jobs,
        occurredAt: (this.deps.clock?.() ?? new Date()).toISOString(),
      });
    } catch (err) {
      this.logger.warn({ err, jobs: jobs.length }, 'heartbeat not sent; the leases may run out');
    }
  }

  private onCancel(c: JobCancelRequested): Promise<void> {
    const job = this.active.get(jobKey(c.jobId, c.attempt));
    if (!job) {
      this.cancelledEarly.add(jobKey(c.jobId, c.attempt));
      if (this.cancelledEarly.size > 10_000)
        this.cancelledEarly.delete(this.cancelledEarly.values().next().value as string);
      return Promise.resolve();
    }
    job.logger.info({ by: c.stoppedByUserId }, 'stop requested by a user');
    this.stopJob(job, 'stopped-by-user', c.stoppedByUserId);
    return Promise.resolve();
  }

  /** Stops a job for `cause`: aborts its preparation, terminates its executor. The first cause wins. */
  private stopJob(job: ActiveJob, cause: StopCause, byUserId?: string): void {
    if (job.stopCause) return;
    job.stopCause = cause;
    const w = (level: LogLevel, text: string) => job.jobLog?.write(level, 'runner', text);
    switch (cause) {
      case 'timeout':
        w('SEVERE', `timeout of ${job.req.timeoutMinutes} minute(s) reached; stopping the job`);
        break;
      case 'stopped-by-user':
        w('WARNING', `stop requested by user ${byUserId ?? '(unknown)'}; stopping the job`);
        break;
      case 'handover':
        w(
          'WARNING',
          'the runner is shutting down and the grace period is over; stopping the job here, it will run again on another runner',
        );
        break;
      case 'lease-lost':
        // Not written: the log now belongs to the job's next attempt (or its end).
        break;
    }
    job.abort.abort();
    job.child?.terminate();
  }

  /**
   * Runs one attempt once jobconfig grants it; returns its terminal progress (or RELEASED when it was
   * handed back) once the log is uploaded and the work dir gone, or null when this runner must not
   * report on it (the claim was refused, the lease revoked).
   */
  private async execute(job: ActiveJob): Promise<JobProgress | null> {
    const { req } = job;
    const started = Date.now();
    // If the claim cannot be sent nothing has happened yet: the handler fails and the bus delivers again.
    // While it travels the job is prepared locally (work dir, package, unpack; the log is written
    // but not uploaded): nothing leaves this runner before the grant.
    const { answer } = await this.claim(job);
    job.answer = answer;
    job.logger.info('job claimed');

    job.warm = await this.launcher.take();
    const ws =
      job.warm?.ws ?? new JobWorkspace(path.join(this.deps.workDir, attemptDirName(req.jobId, req.attempt)));
    let result: JobResult;
    try {
      if (!job.warm) await ws.create();
      // Secure values arrive encrypted: decrypted here, only in memory, and masked in the log.
      const macros = this.decryptMacros(req.macros);
      job.jobLog = await JobLogWriter.open({
        file: ws.logFile,
        storage: this.deps.storage,
        key: req.logKey,
        flushMs: this.deps.logFlushMs ?? 1000,
        level: req.logLevel,
        secrets: 'failed' in macros ? [] : macros.filter((m) => m.secure).map((m) => m.value),
        logger: job.logger,
        held: true,
        ...(await this.previousLog(req)),
        ...(this.deps.clock ? { clock: this.deps.clock } : {}),
      });
      if ('failed' in macros) {
        job.logger.error(
          { kid: macros.kid, macro: macros.macro },
          'a secure macro value cannot be decrypted; set SECRETS_ENCRYPTION_KEYS the same as jobconfig',
        );
        job.jobLog.write(
          'SEVERE',
          'runner',
          `the secure macro ${macros.macro} cannot be decrypted: ${macros.failed}. Configure SECRETS_ENCRYPTION_KEYS of the job runner the same as jobconfig's; the job did not run`,
        );
        result = { kind: 'failed', cause: 'internal-error', returnCode: null };
      } else {
        result = await this.runAttempt(job, ws, job.jobLog, macros);
      }
    } catch (err) {
      job.logger.error({ err }, 'the runner failed the job');
      job.jobLog?.write(
        'SEVERE',
        'runner',
        `internal error of the runner: ${message(err)}; the job did not complete`,
      );
      result = { kind: 'failed', cause: 'internal-error', returnCode: null };
    }
    // Whatever happened, nothing is reported or uploaded before the grant.
    const granted = await answer;
    if (!granted.granted) return this.discard(job, ws, granted.reason);
    job.jobLog?.release();

    const outcome = outcomeOf(result);
    const ms = Date.now() - started;
    const leaving = job.stopCause === 'handover' || job.stopCause === 'lease-lost';
    if (!leaving)
      job.jobLog?.write(
        outcome.status === 'FINISHED' ? 'INFO' : 'WARNING',
        'runner',
        `job ${describeOutcome(outcome)} after ${ms} ms`,
      );
    await job.stepUpdates;
    if (job.warm && job.child !== job.warm.proc && job.warm.proc.alive) {
      // The job ended before its executor ran (its package was unusable, it was stopped): not reused.
      job.warm.proc.terminate();
      await job.warm.proc.exited;
    }
    if (job.jobLog && job.stopCause === 'lease-lost') {
      await job.jobLog.abandon();
    } else if (job.jobLog) {
      try {
        // Before the terminal progress: readers follow the log until the job is terminal (and the
        // next attempt of a job handed back continues this log).
        await job.jobLog.close();
      } catch (err) {
        job.logger.error({ err, key: req.logKey }, 'the final job log upload failed');
      }
    }
    if (!this.deps.keepWorkDirs)
      await ws
        .remove()
        .catch((err: unknown) => job.logger.warn({ err, dir: ws.dir }, 'could not remove the work dir'));
    if (job.stopCause === 'lease-lost') {
      job.logger.warn({ ms }, 'job stopped here: its lease was revoked');
      return null;
    }
    if (job.stopCause === 'handover') {
      job.logger.info({ ms }, 'job handed back');
      return this.progress(req, 'RELEASED');
    }
    job.logger.info(
      { status: outcome.status, reason: outcome.reason, returnCode: outcome.returnCode, ms },
      'job ended',
    );
    return this.progress(req, outcome.status, {
      reason: outcome.reason,
      returnCode: outcome.returnCode,
      currentStep: job.currentStep,
    });
  }

  /**
   * The claim was refused (another runner holds the attempt, it is over) or the runner is stopping
   * before an answer came: the job's local traces go, nothing was uploaded or reported.
   */
  private async discard(
    job: ActiveJob,
    ws: JobWorkspace,
    reason: string | null,
  ): Promise<JobProgress | null> {
    if (job.warm?.proc.alive) {
      job.warm.proc.terminate();
      await job.warm.proc.exited;
    }
    await job.jobLog?.abandon();
    await ws
      .remove()
      .catch((err: unknown) => job.logger.warn({ err, dir: ws.dir }, 'could not remove the work dir'));
    if (reason === 'handover') {
      job.logger.info('runner stopping before jobconfig answered the claim; handing the job back');
      return this.progress(job.req, 'RELEASED');
    }
    job.logger.info({ reason }, 'claim refused; not run here');
    return null;
  }

  /**
   * The request's macros with secure values decrypted (legacy plain values as they are), or the
   * first one that cannot be decrypted and why (never its value).
   */
  private decryptMacros(
    macros: JobRequested['macros'],
  ): JobRequested['macros'] | { failed: string; macro: string; kid: string | undefined } {
    const out: JobRequested['macros'] = [];
    for (const m of macros) {
      if (!m.secure) {
        out.push(m);
        continue;
      }
      try {
        out.push({ ...m, value: decryptSecret(m.value, this.deps.secrets) });
      } catch (err) {
        if (err instanceof SecretDecryptionError) return { failed: err.message, macro: m.key, kid: err.kid };
        throw err;
      }
    }
    return out;
  }

  private async runAttempt(
    job: ActiveJob,
    ws: JobWorkspace,
    jobLog: JobLogWriter,
    requestMacros: JobRequested['macros'],
  ): Promise<JobResult> {
    const { req } = job;
    const w = (level: LogLevel, text: string) => jobLog.write(level, 'runner', text);
    const failed = (cause: FailureCause, returnCode: number | null = null): JobResult => ({
      kind: 'failed',
      cause,
      returnCode,
    });
    w('INFO', `job ${req.jobId} attempt ${req.attempt} on runner ${this.deps.runnerId}`);

    let entryPoint: string;
    let manifest: PackageManifest | null;
    try {
      ({ entryPoint, manifest } = await inSpan('prepare', {}, () => this.prepare(job, ws, w)));
    } catch (err) {
      if (job.stopCause) return failed(failureOf(job.stopCause));
      if (!(err instanceof PackageUnusableError)) throw err;
      w('SEVERE', `the package cannot be used: ${err.message}`);
      w('SEVERE', `to fix: ${err.fix}`);
      return failed('package-unusable');
    }
    if (job.stopCause) return failed(failureOf(job.stopCause));

    const macros = resolveMacros(requestMacros, manifest, {
      JOB_ID: req.jobId,
      JOB_CONFIG_ID: req.jobConfigId,
      LOCAL_JOB_SPEC_DIR: ws.specDir,
      LOCAL_JOB_OUT_DIR: ws.outDir,
    });
    jobLog.addSecrets(macros.secrets);
    for (const n of macros.notes) w(n.level, n.text);
    const spec: ExecutorSpec = {
      version: 1,
      jobId: req.jobId,
      jobConfigId: req.jobConfigId,
      entryPoint,
      specDir: ws.specDir,
      outDir: ws.outDir,
      // Scratch space of the steps (writable in the sandbox; not uploaded).
      workDir: ws.tmpDir,
      logLevel: req.logLevel,
      macros: macros.values,
      ...(this.deps.packageObjectStorage ? { objectStorage: this.deps.packageObjectStorage } : {}),
    };
    await ws.writeExecutorSpec(spec);
    // Prepared: from here on the job is this runner's only once jobconfig granted the claim.
    if (!(await job.answer)?.granted) return failed('runner-lost');
    jobLog.release();
    job.logger.info('job started');
    if (job.stopCause) return failed(failureOf(job.stopCause));
    // The exact package it runs is kept (GET /api/jobs/{id}/package); failing that, the job still runs.
    let packageSha256 = job.fetched ? this.archivedPackages.get(job.fetched) : undefined;
    try {
      if (packageSha256) await ws.discardPackage();
      else packageSha256 = await ws.archivePackage(this.deps.storage);
      if (job.fetched) remember(this.archivedPackages, job.fetched, packageSha256, REMEMBERED_OUTCOMES);
      w('DEBUG', `package ${req.packageName} is sha256 ${packageSha256}`);
    } catch (err) {
      job.logger.warn({ err }, 'could not keep a copy of the package');
      w(
        'WARNING',
        `could not keep a copy of the package (${message(err)}); GET /api/jobs/{id}/package will not have it`,
      );
    }
    try {
      // Retried like the outcome (a Kafka outage delays the job, it does not fail it); a stop ends it.
      await this.publishRetrying(
        this.progress(req, 'RUNNING', { packageSha256 }),
        PERSISTENT_PUBLISH_MS,
        job.abort.signal,
      );
    } catch (err) {
      if (job.stopCause) return failed(failureOf(job.stopCause));
      job.logger.error({ err }, 'could not report RUNNING');
      w('SEVERE', 'the runner could not report the job as running; the entry point was not started');
      return failed('internal-error');
    }

    w('INFO', `starting entry point ${req.entryPoint}`);
    const exit = await inSpan('execute', { attributes: { 'im.job.entry_point': req.entryPoint } }, () =>
      this.runExecutor(job, ws, jobLog),
    );
    const returnCode = exit.code ?? (exit.signal ? signalExitCode(exit.signal) : null);

    let uploadFailed = false;
    // An attempt leaving this runner uploads nothing: its outputs are the next attempt's to write.
    // A job stopped for writing too much has its outputs dropped (they are what it wrote too much of).
    const keepOutputs = exit.limit?.resource !== 'disk';
    if (!exit.spawnError && keepOutputs && job.stopCause !== 'handover' && job.stopCause !== 'lease-lost') {
      try {
        const up = await ws.uploadOutputs(this.deps.storage, req.outPrefix);
        for (const s of up.skipped) w('WARNING', `output ${s.path} not uploaded: ${s.why}`);
        w(up.files > 0 ? 'INFO' : 'DEBUG', `uploaded ${up.files} output file(s), ${up.bytes} bytes`);
      } catch (err) {
        uploadFailed = true;
        job.logger.error({ err }, 'output upload failed');
        w('SEVERE', `uploading the output files failed: ${message(err)}`);
      }
    }

    if (job.stopCause) return failed(failureOf(job.stopCause), exit.code);
    if (exit.spawnError) {
      w('SEVERE', `the executor could not be started: ${exit.spawnError.message}`);
      return failed('internal-error');
    }
    if (exit.limit) {
      w(
        'SEVERE',
        `${describeLimitHit(exit.limit)}: the sandbox stopped the job when it reached its ${exit.limit.resource} limit (${exit.limit.limit}); make it use less, or ask an operator to raise the limit (docs/operations.md, JOBS_*)`,
      );
      return failed('resource-limit', returnCode);
    }
    if (job.fatal) {
      job.logger.error({ fatal: job.fatal }, 'the executor failed');
      return failed('internal-error', exit.code);
    }
    if (returnCode !== 0) return failed('package-failed', returnCode);
    return uploadFailed ? failed('internal-error', 0) : { kind: 'finished' };
  }

  /**
   * Fetch (through the package cache), unpack, override, read the manifest, find the entry point.
   * Throws PackageUnusableError for the package's faults.
   */
  private async prepare(
    job: ActiveJob,
    ws: JobWorkspace,
    w: (level: LogLevel, text: string) => void,
  ): Promise<{ entryPoint: string; manifest: PackageManifest | null }> {
    const { req } = job;
    const signal = job.abort.signal;
    let t = Date.now();
    const got = await ws.fetchPackage(this.deps.storage, req, signal, this.cache);
    job.fetched = `${req.packagePrefix}/${req.packageName}\n${got.etag}\n${got.size}`;
    const ms = Date.now() - t;
    if (!this.cache.enabled) w('INFO', `package fetched: ${req.packageName}, ${got.size} bytes in ${ms} ms`);
    else if (got.hit) w('INFO', `package cache hit: ${req.packageName}, ${got.size} bytes (not downloaded)`);
    else w('INFO', `package cache miss: ${req.packageName} fetched, ${got.size} bytes in ${ms} ms`);
    job.logger.info(
      { hit: this.cache.enabled ? got.hit : undefined, etag: got.etag, size: got.size, ms },
      this.cache.enabled ? (got.hit ? 'package cache hit' : 'package cache miss') : 'package fetched',
    );
    t = Date.now();
    const u = await ws.unpack(this.unpackLimits, signal);
    w(
      'INFO',
      `unpacked ${u.files + u.directories} entries (${u.files} files, ${u.bytes} bytes) in ${Date.now() - t} ms`,
    );
    if (req.packageArtifactOverride) {
      const copied = await ws.applyOverrides(this.deps.storage, req, signal);
      w(
        'INFO',
        copied.length > 0
          ? `packageArtifactOverride: copied ${copied.length} configuration file(s) into the package: ${copied.join(', ')}`
          : 'packageArtifactOverride: no other configuration files to copy',
      );
    }
    const read = await readManifest(ws.specDir);
    if (read) {
      const m = read.manifest;
      const what = [m.name, m.version].filter(Boolean).join(' ');
      w(
        'INFO',
        `${MANIFEST_FILE}: ${what || 'unnamed package'}, ${m.macros.length} macro(s) declared${m.defaultEntryPoint ? `, default entry point ${m.defaultEntryPoint}` : ''}`,
      );
      if (read.unknownFields.length > 0)
        w('WARNING', `${MANIFEST_FILE}: unknown field(s) ignored: ${read.unknownFields.join(', ')}`);
    }
    return { entryPoint: await ws.resolveEntryPoint(req.entryPoint), manifest: read?.manifest ?? null };
  }

  private async runExecutor(job: ActiveJob, ws: JobWorkspace, jobLog: JobLogWriter): Promise<ExecutorExit> {
    const { req } = job;
    const started = Date.now();
    const handlers: ExecutorHandlers = {
      onLine: (level, source, text) => {
        jobLog.write(level, source, text);
        this.hint(job, jobLog, text);
      },
      onStep: (name) => this.onStep(job, name),
      onFatal: (m) => {
        job.fatal = m;
      },
    };
    let child: ExecutorProcess;
    if (job.warm?.proc.alive) {
      child = job.warm.proc;
      await this.launcher.go(job.warm, handlers);
    } else {
      child = await this.launcher.startCold(ws, handlers);
    }
    job.child = child;
    if (job.stopCause) child.terminate(); // stopped while it was being started
    const timer =
      req.timeoutMinutes > 0
        ? setTimeout(
            () => this.stopJob(job, 'timeout'),
            req.timeoutMinutes * (this.deps.timeoutUnitMs ?? 60_000),
          )
        : undefined;
    try {
      const exit = await child.exited;
      const how =
        exit.code !== null
          ? `exit code ${exit.code}`
          : exit.signal
            ? `signal ${exit.signal}`
            : 'no exit code';
      if (!exit.spawnError)
        jobLog.write('INFO', 'runner', `finished with ${how} in ${Date.now() - started} ms`);
      return exit;
    } finally {
      clearTimeout(timer);
      job.child = undefined;
    }
  }

  /** Explains in the job log what a boundary or the memory cap did to a package, once per job. */
  private hint(job: ActiveJob, jobLog: JobLogWriter, text: string): void {
    for (const { id, line } of this.launcher.hints(text)) {
      if (job.hinted.has(id)) continue;
      job.hinted.add(id);
      jobLog.write('SEVERE', 'runner', line);
    }
  }

  private onStep(job: ActiveJob, name: string): void {
    job.currentStep = name;
    const p = this.progress(job.req, 'RUNNING', { currentStep: name });
    job.stepUpdates = job.stepUpdates
      .then(() => this.deps.bus.publish('job.progress', p))
      .catch((err: unknown) => job.logger.warn({ err, step: name }, 'could not report the current step'));
  }

  private async previousLog(req: JobRequested): Promise<{ seed?: Readable }> {
    if (req.attempt <= 1) return {};
    const prev = await this.deps.storage.get(req.logKey).catch(() => null);
    return prev ? { seed: prev.body } : {};
  }

  private progress(
    req: JobRequested,
    status: JobProgress['status'],
    extra: Partial<Pick<JobProgress, 'reason' | 'returnCode' | 'currentStep' | 'packageSha256'>> = {},
  ): JobProgress {
    return {
      jobId: req.jobId,
      attempt: req.attempt,
      status,
      reason: extra.reason ?? null,
      returnCode: extra.returnCode ?? null,
      currentStep: extra.currentStep ?? null,
      ...(extra.packageSha256 ? { packageSha256: extra.packageSha256 } : {}),
      runnerId: this.deps.runnerId,
      occurredAt: (this.deps.clock?.() ?? new Date()).toISOString(),
    };
  }

  /**
   * Publishes a report, retrying: a few times, or for up to `persistMs` (backing off to 5 s) when
   * nothing else would report it again (the request's message was let go). `signal` ends the wait.
   */
  private async publishRetrying(p: JobProgress, persistMs = 0, signal?: AbortSignal): Promise<void> {
    const until = Date.now() + persistMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.bus.publish('job.progress', p);
        if (attempt > 1) this.logger.info({ jobId: p.jobId, status: p.status, attempt }, 'report sent');
        return;
      } catch (err) {
        if ((attempt >= TERMINAL_PUBLISH_ATTEMPTS && Date.now() >= until) || signal?.aborted) throw err;
        if (attempt === 1 || attempt % 10 === 0)
          this.logger.warn(
            { err, jobId: p.jobId, status: p.status, attempt },
            'could not report the job; retrying',
          );
        await delay(Math.min(5000, 250 * attempt), undefined, signal ? { signal } : {}).catch(() => {
          throw err;
        });
      }
    }
  }
}

/** Sets `key` in `map`, forgetting the oldest entry beyond `max` (insertion order). */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}

function describeOutcome(o: TerminalOutcome): string {
  const rc = o.returnCode !== null ? `, return code ${o.returnCode}` : '';
  return `${o.status}${o.reason ? ` (${o.reason})` : ''}${rc}`;
}
