import {
  canRequeue,
  canTransition,
  isTerminal,
  jobLogKey,
  jobOutPrefix,
  JOB_STATUS_EVENT_TYPE,
  packagePrefix,
  type FailureReason,
  type FileCatalogPort,
  type JobProgress,
  type RunnerHeartbeat,
  type JobStatus,
  type JobStatusEvent,
  type Principal,
  type RunRequest,
} from '@im/contracts';
import { AppError, ConflictError, InputError, NotFoundError } from '@im/errors';
import type { Knex, PageRequest, PageResult } from '@im/db';
import type { Logger } from '@im/logging';
import type { OutgoingRecord } from '@im/messaging';
import { reencryptSecret, SecretDecryptionError, type SecretsKeyring } from '@im/config';
import { randomUUID } from 'node:crypto';
import type { JobConfigRecord } from './job-config.repository';
import type { JobConfigService } from './job-config.service';
import { jobMetrics } from './job.metrics';
import type { JobFilter, JobRecord, JobRepository, RunMacro, TransitionPatch } from './job.repository';
import type { Outbox } from './outbox';

const isAdmin = (p: Principal) => p.roles.includes('admin');

/** How long a runner holds an attempt without a heartbeat, by default (JOBS_LEASE_MS). */
export const DEFAULT_LEASE_MS = 30_000;

export interface JobServiceOptions {
  /** How long a runner holds an attempt without a heartbeat before it counts as lost (ms). */
  leaseMs?: number;
  /** The keyring secure macro values travel encrypted with on job.requests (the module always gives one). */
  secrets?: SecretsKeyring;
}

const attemptKey = (jobId: string, attempt: number) => `${jobId}#${attempt}`;

/**
 * Jobs and their state machine. This service is the single writer of job status: runners report,
 * this decides; a transition the contract does not allow is ignored and logged, never applied.
 */
export class JobService {
  constructor(
    private readonly jobs: JobRepository,
    private readonly configs: JobConfigService,
    private readonly files: FileCatalogPort,
    private readonly outbox: Outbox,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    options: JobServiceOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.secrets = options.secrets;
  }

  /** The keyring secure macro values are encrypted with, at rest and in job requests. */
  private readonly secrets: SecretsKeyring | undefined;

  readonly leaseMs: number;

  async run(principal: Principal, jobConfigId: string, req: RunRequest): Promise<JobRecord> {
    const c = await this.configs.getFor(principal, jobConfigId);
    if (await this.configs.ownerInactive(c)) {
      throw new ConflictError(
        `The owner of job configuration ${jobConfigId} (${c.ownerName}) is deactivated; their configurations do not run until an administrator activates them again.`,
        'OWNER_INACTIVE',
      );
    }
    if (!c.active) {
      throw new ConflictError(
        `Job configuration ${jobConfigId} is inactive; set "active": true to run it.`,
        'CONFIG_INACTIVE',
      );
    }
    if (!c.packageName || !c.entryPoint) {
      throw new AppError(
        'NOT_RUNNABLE',
        `Job configuration ${jobConfigId} has no package or entry point; set runtimeConfig.packageName and runtimeConfig.entryPoint first.`,
        {
          errors: [
            {
              path: c.packageName ? 'runtimeConfig.entryPoint' : 'runtimeConfig.packageName',
              message: 'required to run',
            },
          ],
        },
      );
    }
    if (!(await this.files.exists(principal, jobConfigId, c.packageName))) {
      throw new InputError(
        `The package "${c.packageName}" is no longer attached to job configuration ${jobConfigId}; upload it again.`,
        [{ path: 'runtimeConfig.packageName', message: 'not attached to this configuration' }],
        'PACKAGE_NOT_ATTACHED',
      );
    }
    // The job, its first event and its request in one transaction (the outbox publishes them in
    // this order once committed: sequence 1 is out before any runner can report on the job).
    const runnable = { ...c, packageName: c.packageName, entryPoint: c.entryPoint };
    const stored = await this.jobs.transaction((trx) =>
      this.submit(trx, runnable, { id: principal.id, name: principal.name }, req),
    );
    this.submitted(stored);
    return stored;
  }

  /**
   * Writes a new job of a runnable configuration in `trx`: the job row (SEQUENCED behind an unfinished
   * job of a blocking configuration, QUEUED otherwise), its first status event and, when QUEUED, its
   * request (the outbox publishes them in this order once committed). Checks nothing else: run() checks
   * the request first, the scheduler (schedule.scheduler.ts) its tick. Call {@link submitted} after
   * the commit.
   */
  async submit(
    trx: Knex.Transaction,
    c: JobConfigRecord & { packageName: string; entryPoint: string },
    submittedBy: { id: string; name: string },
    req: RunRequest,
  ): Promise<JobRecord> {
    const jobConfigId = c.id;
    const now = this.now();
    const blocked = c.blocking && (await this.jobs.countUnfinished(jobConfigId, trx)) > 0;
    const job: Omit<JobRecord, 'eventSeq'> = {
      id: randomUUID(),
      jobConfigId,
      jobConfigName: c.name,
      accountId: c.accountId,
      ownerId: c.ownerId,
      status: blocked ? 'SEQUENCED' : 'QUEUED',
      reason: null,
      attempt: 1,
      returnCode: null,
      currentStep: null,
      packageName: c.packageName,
      entryPoint: c.entryPoint,
      packageArtifactOverride: c.packageArtifactOverride,
      logLevel: req.runtimeConfig?.logLevel ?? c.logLevel,
      timeoutMinutes: c.timeoutMinutes,
      // A run macro overriding a secure macro of the configuration is secure too (stored encrypted).
      runMacros: (req.runtimeConfig?.macros ?? []).map((m) => ({
        key: m.key,
        value: m.value ?? '',
        secure: m.secure || c.macros.some((x) => x.key === m.key && x.secure),
      })),
      tags: req.tags ?? [],
      submittedBy,
      stoppedBy: null,
      scheduledAt: now,
      startedAt: null,
      finishedAt: null,
      updatedAt: now,
      runnerId: null,
      leaseExpiresAt: null,
      maxAttempts: c.maxAttempts,
      handovers: 0,
    };
    await this.jobs.insert(job, trx);
    const row = (await this.jobs.findById(job.id, trx)) as JobRecord;
    await this.outbox.add(trx, [
      this.statusRecord(row, null),
      ...(row.status === 'QUEUED' ? [this.requestRecord(row, c)] : []),
    ]);
    return row;
  }

  /** After the commit of {@link submit}: wakes the outbox relay. */
  submitted(job: JobRecord): void {
    this.outbox.nudge();
    jobMetrics.transitions.inc({ status: job.status });
    this.logger.info({ jobId: job.id, jobConfigId: job.jobConfigId, status: job.status }, 'job submitted');
  }

  /**
   * Resolved macros for the runner: configuration values, then the run request's, the run request
   * winning. Secure values travel encrypted with the keyring's first key: each is decrypted here
   * (stored values may be of an older key, or legacy plain text) and encrypted again for the request.
   */
  private resolveMacros(c: JobConfigRecord | undefined, job: JobRecord): RunMacro[] {
    const byKey = new Map<string, RunMacro>();
    for (const m of c?.macros ?? [])
      if (m.value !== null) byKey.set(m.key, { key: m.key, value: m.value, secure: m.secure });
    for (const m of job.runMacros)
      byKey.set(m.key, {
        key: m.key,
        value: m.value,
        secure: m.secure || (byKey.get(m.key)?.secure ?? false),
      });
    const secrets = this.secrets;
    if (!secrets) return [...byKey.values()];
    return [...byKey.values()].map((m) => {
      if (!m.secure) return m;
      try {
        return { ...m, value: reencryptSecret(m.value, secrets) };
      } catch (err) {
        if (!(err instanceof SecretDecryptionError)) throw err;
        // Its key left SECRETS_ENCRYPTION_KEYS: sent as stored (never in plain text). The runner cannot
        // decrypt it either and fails the job, saying so in its log; the API answers as usual.
        this.logger.error(
          { jobId: job.id, jobConfigId: job.jobConfigId, macro: m.key, kid: err.kid },
          `secure macro ${m.key} cannot be decrypted (${err.message}); the job will fail: restore the key or set the macro again`,
        );
        return m;
      }
    });
  }

  private requestRecord(job: JobRecord, c: JobConfigRecord | undefined): OutgoingRecord {
    return {
      topic: 'job.requests',
      message: {
        jobId: job.id,
        attempt: job.attempt,
        jobConfigId: job.jobConfigId,
        packagePrefix: packagePrefix(job.jobConfigId),
        packageName: job.packageName,
        entryPoint: job.entryPoint,
        packageArtifactOverride: job.packageArtifactOverride,
        logLevel: job.logLevel,
        timeoutMinutes: job.timeoutMinutes,
        macros: this.resolveMacros(c, job),
        logKey: jobLogKey(job.id),
        outPrefix: jobOutPrefix(job.id),
        requestedAt: new Date(this.now()).toISOString(),
      },
    };
  }

  async get(principal: Principal, id: string): Promise<JobRecord> {
    const job = await this.jobs.findById(id);
    // Its configuration's owner, whoever submitted it, or an admin of its account; nobody else, and
    // nobody of another account (404, never 403).
    if (
      !job ||
      job.accountId !== principal.accountId ||
      (job.ownerId !== principal.id && job.submittedBy.id !== principal.id && !isAdmin(principal))
    ) {
      throw new NotFoundError(`There is no job ${id}. List jobs with GET /api/jobs.`);
    }
    return job;
  }

  /** Resolves when the caller may use the configuration; a 404 otherwise (its jobs do not exist for them). */
  async assertConfigAccess(principal: Principal, jobConfigId: string): Promise<void> {
    await this.configs.getFor(principal, jobConfigId);
  }

  async list(principal: Principal, filter: JobFilter, req: PageRequest): Promise<PageResult<JobRecord>> {
    return this.jobs.page(
      {
        ...filter,
        accountId: principal.accountId,
        ...(isAdmin(principal) ? {} : { ownerId: principal.id }),
      },
      req,
    );
  }

  /**
   * A user was deactivated: their waiting jobs (SEQUENCED, then QUEUED, so none is promoted on the
   * way) are cancelled, stopped by the administrator who deactivated them. Jobs already running run
   * to their end. Runs again until nothing waits (a job may move concurrently).
   */
  async cancelWaitingJobsOf(ownerId: string, by: { id: string; name: string }): Promise<number> {
    let cancelled = 0;
    for (let pass = 0; pass < 5; pass++) {
      const waiting = [
        ...(await this.jobs.list({ ownerId, statuses: ['SEQUENCED'] })),
        ...(await this.jobs.list({ ownerId, statuses: ['QUEUED'] })),
      ];
      if (waiting.length === 0) break;
      for (const job of waiting) {
        const moved = await this.apply(job, 'CANCELLED', { stoppedBy: by, finishedAt: this.now() }, (m) =>
          job.status === 'QUEUED' ? [this.cancelRecord(m, by.id)] : [],
        );
        if (moved) cancelled++;
      }
    }
    if (cancelled > 0)
      this.logger.info({ ownerId, cancelled, by: by.id }, "cancelled a deactivated user's waiting jobs");
    return cancelled;
  }

  /** DELETE /api/jobs/{id}: a waiting job is cancelled at once; a running one is asked to stop. */
  async cancel(principal: Principal, id: string): Promise<JobRecord> {
    const job = await this.get(principal, id);
    const by = { id: principal.id, name: principal.name };
    if (job.status === 'QUEUED' || job.status === 'SEQUENCED') {
      // A runner may hold the request already (waiting for a slot): tell it not to run it.
      const moved = await this.apply(job, 'CANCELLED', { stoppedBy: by, finishedAt: this.now() }, (m) =>
        job.status === 'QUEUED' ? [this.cancelRecord(m, principal.id)] : [],
      );
      if (moved) return moved;
      return this.cancel(principal, id); // it moved under us; decide again on its new status
    }
    if (job.status === 'INITIALIZING' || job.status === 'RUNNING') {
      await this.jobs.transaction(async (trx) => {
        await this.jobs.markStopRequested(id, by, this.now(), trx);
        await this.outbox.add(trx, [this.cancelRecord(job, principal.id)]);
      });
      this.outbox.nudge();
      this.logger.info({ jobId: id, by: principal.id }, 'stop requested');
    }
    return (await this.jobs.findById(id)) as JobRecord;
  }

  private cancelRecord(job: JobRecord, byUserId: string): OutgoingRecord {
    return {
      topic: 'job.cancel',
      message: {
        jobId: job.id,
        attempt: job.attempt,
        stoppedByUserId: byUserId,
        requestedAt: new Date(this.now()).toISOString(),
      },
    };
  }

  /** Applies a runner's report, if the state machine allows it; anything else is ignored and logged. */
  async onProgress(p: JobProgress): Promise<void> {
    const job = await this.jobs.findById(p.jobId);
    if (!job) {
      this.logger.warn({ jobId: p.jobId }, 'progress for an unknown job; ignored');
      if (p.status === 'INITIALIZING') await this.answerClaim(p, false, 'there is no such job');
      return;
    }
    if (p.status === 'INITIALIZING') return this.onClaim(job, p);
    if (p.status === 'RELEASED') return this.onRelease(job, p);
    if (job.attempt !== p.attempt) {
      this.logger.warn(
        { jobId: p.jobId, attempt: p.attempt, current: job.attempt },
        'progress for another attempt; ignored',
      );
      return;
    }
    if (job.runnerId !== p.runnerId) {
      // Fencing: only the runner holding the lease reports on the attempt.
      this.logger.warn(
        { jobId: p.jobId, runnerId: p.runnerId, holder: job.runnerId, status: p.status },
        'progress from a runner that does not hold the attempt; ignored',
      );
      return;
    }
    if (p.status === job.status) {
      if (p.status === 'RUNNING' && p.currentStep !== job.currentStep)
        await this.jobs.setCurrentStep(job.id, job.attempt, p.currentStep, this.now());
      return;
    }
    if (!canTransition(job.status, p.status)) {
      this.logger.warn({ jobId: p.jobId, from: job.status, to: p.status }, 'illegal transition; ignored');
      return;
    }
    const at = Date.parse(p.occurredAt) || this.now();
    const patch: TransitionPatch = {};
    if (p.status === 'RUNNING') {
      patch.startedAt = at;
      if (p.packageSha256) patch.packageSha256 = p.packageSha256;
    }
    if (isTerminal(p.status)) {
      patch.finishedAt = at;
      patch.returnCode = p.returnCode;
      patch.leaseExpiresAt = null;
      patch.reason =
        p.status === 'FAILED'
          ? job.stoppedBy && p.reason !== 'timeout'
            ? 'stopped-by-user'
            : (p.reason ?? 'internal-error')
          : null;
    }
    if (p.currentStep !== null) patch.currentStep = p.currentStep;
    await this.apply(job, p.status, patch);
  }

  /**
   * A runner claims an attempt (its INITIALIZING report). The first claim of a QUEUED attempt wins the
   * lease; the holder claiming again (a redelivered request) is granted again; anyone else is refused,
   * so a request delivered twice never runs twice.
   */
  private async onClaim(job: JobRecord, p: JobProgress): Promise<void> {
    if (job.attempt !== p.attempt || isTerminal(job.status)) {
      await this.answerClaim(
        p,
        false,
        `attempt ${p.attempt} is over (the job is ${job.status}, attempt ${job.attempt})`,
      );
      return;
    }
    if (job.status === 'QUEUED') {
      const at = Date.parse(p.occurredAt) || this.now();
      const moved = await this.apply(
        job,
        'INITIALIZING',
        {
          runnerId: p.runnerId,
          leaseExpiresAt: this.now() + this.leaseMs,
          ...(job.startedAt === null ? { startedAt: at } : {}),
        },
        () => [this.leaseRecord(job.id, job.attempt, p.runnerId, true, null)],
      );
      if (moved) return;
      // Moved under us (a cancel, a concurrent claim): decide again on what it is now.
      const now = await this.jobs.findById(job.id);
      if (now && now.status !== 'QUEUED') return this.onClaim(now, p);
      await this.answerClaim(p, false, 'the job changed while it was claimed');
      return;
    }
    if ((job.status === 'INITIALIZING' || job.status === 'RUNNING') && job.runnerId === p.runnerId) {
      await this.jobs.renewLeases(
        p.runnerId,
        [{ jobId: job.id, attempt: job.attempt }],
        this.now() + this.leaseMs,
      );
      await this.answerClaim(p, true, null);
      return;
    }
    this.logger.warn(
      { jobId: job.id, attempt: p.attempt, runnerId: p.runnerId, holder: job.runnerId, status: job.status },
      'claim refused: another runner holds the attempt',
    );
    await this.answerClaim(p, false, `runner ${job.runnerId ?? '(none)'} holds this attempt`);
  }

  /** A runner gives an attempt back unfinished (it is shutting down): the job runs again elsewhere. */
  private async onRelease(job: JobRecord, p: JobProgress): Promise<void> {
    if (job.attempt !== p.attempt) return;
    if (job.status === 'QUEUED') {
      // Released before it was claimed: its request was consumed, so it is requested again.
      const c = await this.configs.findById(job.jobConfigId);
      await this.jobs.transaction((trx) => this.outbox.add(trx, [this.requestRecord(job, c)]));
      this.outbox.nudge();
      this.logger.info(
        { jobId: job.id, attempt: job.attempt, runnerId: p.runnerId },
        'request released; requested again',
      );
      return;
    }
    if ((job.status === 'INITIALIZING' || job.status === 'RUNNING') && job.runnerId === p.runnerId) {
      await this.requeueOrFail(job, 'handover');
    }
  }

  /** When each runner's last heartbeat was handled here (the lease reaper's view after a bus outage). */
  private readonly heard = new Map<string, number>();

  /** The runners whose heartbeat this replica handled at or after `since`. */
  runnersHeardSince(since: number): Set<string> {
    const out = new Set<string>();
    for (const [runnerId, at] of this.heard) if (at >= since) out.add(runnerId);
    return out;
  }

  /** The runners holding a lease now. */
  leaseHolders(): Promise<string[]> {
    return this.jobs.leaseHolders();
  }

  /** Renews the leases a heartbeat names; a runner still working on an attempt it lost is told to stop. */
  async onHeartbeat(hb: RunnerHeartbeat): Promise<void> {
    this.noteHeard(hb.runnerId);
    const renewed = await this.jobs.renewLeases(hb.runnerId, hb.jobs, this.now() + this.leaseMs);
    const lost = hb.jobs.filter((j) => !renewed.has(attemptKey(j.jobId, j.attempt)));
    if (lost.length === 0) return;
    const revoke: OutgoingRecord[] = [];
    for (const j of lost) {
      const job = await this.jobs.findById(j.jobId);
      // Still QUEUED at this attempt: its claim is on its way (heartbeats and claims travel separately).
      if (job && job.attempt === j.attempt && job.status === 'QUEUED') continue;
      revoke.push(
        this.leaseRecord(j.jobId, j.attempt, hb.runnerId, false, 'the runner no longer holds this attempt'),
      );
    }
    if (revoke.length === 0) return;
    this.logger.warn(
      { runnerId: hb.runnerId, attempts: revoke.length },
      'heartbeat for attempts the runner lost; told to stop',
    );
    await this.jobs.transaction((trx) => this.outbox.add(trx, revoke));
    this.outbox.nudge();
  }

  /**
   * Jobs whose runner stopped heartbeating: each is re-queued as a new attempt when its configuration
   * allows another, else FAILED `runner-lost`. Safe on any number of replicas (compare-and-set).
   */
  async reapExpiredLeases(): Promise<{ requeued: number; failed: number }> {
    let requeued = 0;
    let failed = 0;
    for (const job of await this.jobs.expiredLeases(this.now())) {
      const r = await this.requeueOrFail(job, 'runner-lost');
      if (r) jobMetrics.leaseExpired.inc();
      if (r === 'QUEUED') requeued++;
      else if (r === 'FAILED') failed++;
    }
    return { requeued, failed };
  }

  /**
   * While heartbeats cannot arrive (the event bus is or was just down), every lease (but those of the
   * runners in `except`) gets a fresh term plus `slackMs`: runners are not blamed for the broker's outage.
   */
  async extendLeases(slackMs: number, except: readonly string[] = []): Promise<number> {
    return this.jobs.extendLeases(this.now() + this.leaseMs + slackMs, except);
  }

  private noteHeard(runnerId: string): void {
    const now = this.now();
    this.heard.delete(runnerId); // re-inserted last: the map stays in order of last heartbeat
    this.heard.set(runnerId, now);
    // Runners come and go (pods): forget those silent for a hundred leases.
    for (const [id, at] of this.heard) {
      if (at >= now - 100 * this.leaseMs) break;
      this.heard.delete(id);
    }
  }

  private async requeueOrFail(
    job: JobRecord,
    why: 'runner-lost' | 'handover',
  ): Promise<JobStatus | undefined> {
    // Attempts lost so far, this one included; handed-back attempts do not count.
    const lost = job.attempt - job.handovers;
    const stop = (moved: JobRecord): OutgoingRecord[] =>
      job.runnerId
        ? [
            this.leaseRecord(
              job.id,
              job.attempt,
              job.runnerId,
              false,
              moved.status === 'QUEUED' ? `re-queued as attempt ${moved.attempt}` : 'failed: runner lost',
            ),
          ]
        : [];
    if (why === 'handover' || lost < job.maxAttempts) {
      const c = await this.configs.findById(job.jobConfigId);
      const moved = await this.apply(
        job,
        'QUEUED',
        {
          attempt: job.attempt + 1,
          handovers: job.handovers + (why === 'handover' ? 1 : 0),
          runnerId: null,
          leaseExpiresAt: null,
          currentStep: null,
        },
        (m) => [...stop(m), this.requestRecord(m, c)],
      );
      if (moved)
        this.logger.warn(
          { jobId: job.id, attempt: moved.attempt, runnerId: job.runnerId, why },
          why === 'handover'
            ? 'job handed back by its runner; re-queued'
            : 'runner lost; job re-queued as a new attempt',
        );
      return moved?.status;
    }
    const moved = await this.apply(
      job,
      'FAILED',
      { reason: 'runner-lost' satisfies FailureReason, finishedAt: this.now(), leaseExpiresAt: null },
      stop,
    );
    if (moved)
      this.logger.warn(
        { jobId: job.id, attempt: job.attempt, maxAttempts: job.maxAttempts, runnerId: job.runnerId },
        'runner lost; no attempts left, job failed',
      );
    return moved?.status;
  }

  private leaseRecord(
    jobId: string,
    attempt: number,
    runnerId: string,
    granted: boolean,
    reason: string | null,
  ): OutgoingRecord {
    return {
      topic: 'job.leases',
      message: {
        jobId,
        attempt,
        runnerId,
        granted,
        leaseMs: this.leaseMs,
        reason,
        occurredAt: new Date(this.now()).toISOString(),
      },
    };
  }

  private async answerClaim(p: JobProgress, granted: boolean, reason: string | null): Promise<void> {
    await this.jobs.transaction((trx) =>
      this.outbox.add(trx, [this.leaseRecord(p.jobId, p.attempt, p.runnerId, granted, reason)]),
    );
    this.outbox.nudge();
  }

  /**
   * One transition, compare-and-set on the current status, written with its public event (and the
   * records `also` adds) in one transaction; the outbox publishes them once it commits.
   */
  private async apply(
    job: JobRecord,
    to: JobStatus,
    patch: TransitionPatch,
    also: (moved: JobRecord) => OutgoingRecord[] = () => [],
  ): Promise<JobRecord | undefined> {
    const requeue = to === 'QUEUED' && patch.attempt === job.attempt + 1 && canRequeue(job.status);
    if (!requeue && !canTransition(job.status, to)) return undefined;
    const moved = await this.jobs.transaction(async (trx) => {
      const row = await this.jobs.transition(job.id, job.status, to, patch, this.now(), trx, job.attempt);
      if (row) await this.outbox.add(trx, [this.statusRecord(row, job.status), ...also(row)]);
      return row;
    });
    if (!moved) {
      this.logger.info({ jobId: job.id, from: job.status, to }, 'job moved concurrently; transition skipped');
      return undefined;
    }
    this.outbox.nudge();
    jobMetrics.transitions.inc({ status: to });
    if (to === 'INITIALIZING' && job.status === 'QUEUED')
      jobMetrics.queued.observe(Math.max(0, moved.updatedAt - job.updatedAt) / 1000);
    if (isTerminal(to) && moved.startedAt !== null && moved.finishedAt !== null)
      jobMetrics.duration.observe({ status: to }, Math.max(0, moved.finishedAt - moved.startedAt) / 1000);
    this.logger.info({ jobId: job.id, from: job.status, to, reason: moved.reason }, 'job status');
    if (isTerminal(to)) await this.promoteSequenced(moved.jobConfigId);
    return moved;
  }

  /** For a blocking configuration, the oldest waiting job starts once nothing else of it runs. */
  private async promoteSequenced(jobConfigId: string): Promise<void> {
    const active = await this.jobs.list({ jobConfigId, statuses: ['QUEUED', 'INITIALIZING', 'RUNNING'] });
    if (active.length > 0) return;
    const [next] = await this.jobs.list({ jobConfigId, statuses: ['SEQUENCED'] });
    if (!next) return;
    const c = await this.configs.findById(jobConfigId);
    await this.apply(next, 'QUEUED', {}, (moved) => [this.requestRecord(moved, c)]);
  }

  private statusRecord(job: JobRecord, previous: JobStatus | null): OutgoingRecord {
    const occurredAt = new Date(job.updatedAt).toISOString();
    const event: JobStatusEvent = {
      specversion: '1.0',
      id: `${job.id}:${job.eventSeq}`,
      source: '/im/jobconfig',
      type: JOB_STATUS_EVENT_TYPE,
      subject: job.id,
      time: new Date(this.now()).toISOString(),
      datacontenttype: 'application/json',
      data: {
        jobId: job.id,
        jobConfigId: job.jobConfigId,
        jobConfigName: job.jobConfigName,
        status: job.status,
        previousStatus: previous,
        sequence: job.eventSeq,
        attempt: job.attempt,
        reason: job.reason,
        returnCode: job.returnCode,
        submittedByUserId: job.submittedBy.id,
        occurredAt,
      },
    };
    return {
      topic: 'job.status',
      message: event,
      headers: { 'content-type': 'application/cloudevents+json' },
    };
  }

  /**
   * After a restart of the whole platform in one process (standalone): queued jobs are requested
   * again, and jobs that were initializing or running died with the old process.
   */
  async recoverAfterRestart(): Promise<{ requeued: number; failed: number }> {
    let requeued = 0;
    let failed = 0;
    for (const job of await this.jobs.list({ statuses: ['QUEUED'] })) {
      const c = await this.configs.findById(job.jobConfigId);
      await this.jobs.transaction((trx) => this.outbox.add(trx, [this.requestRecord(job, c)]));
      requeued++;
    }
    // Their runner died with the old process: a new attempt if the configuration allows one.
    for (const job of await this.jobs.list({ statuses: ['INITIALIZING', 'RUNNING'] })) {
      const r = await this.requeueOrFail(job, 'runner-lost');
      if (r === 'QUEUED') requeued++;
      else if (r === 'FAILED') failed++;
    }
    if (requeued > 0) this.outbox.nudge();
    if (requeued + failed > 0) this.logger.info({ requeued, failed }, 'recovered jobs after restart');
    return { requeued, failed };
  }

  isFinished(job: JobRecord): boolean {
    return isTerminal(job.status);
  }

  async reload(id: string): Promise<JobRecord | undefined> {
    return this.jobs.findById(id);
  }
}
