import {
  canRequeue,
  canTransition,
  isTerminal,
  type FailureReason,
  type FileCatalogPort,
  type JobProgress,
  type RunnerHeartbeat,
  type JobStatus,
  type Principal,
  type RunRequest,
} from '@im/contracts';
import { AppError, ConflictError, InputError, NotFoundError } from '@im/errors';
import type { Knex, PageRequest, PageResult } from '@im/db';
import type { Logger } from '@im/logging';
import type { OutgoingRecord } from '@im/messaging';
import type { SecretsKeyring } from '@im/config';
import type { ObjectStorage } from '@im/storage';
import { randomUUID } from 'node:crypto';
import type { JobConfigRecord } from './job-config.repository';
import type { JobConfigService } from './job-config.service';
import { jobMetrics } from './job.metrics';
import type { JobFilter, JobRecord, JobRepository, TransitionPatch } from './job.repository';
import { cancelRecord, leaseRecord, statusRecord } from './job.records';
import { JobRequests, withheldPath, type RequestVerdict } from './job.requests';
import type { Outbox } from './outbox';

const isAdmin = (p: Principal) => p.roles.includes('admin');

/** How long a runner holds an attempt without a heartbeat, by default (JOBS_LEASE_MS). */
export const DEFAULT_LEASE_MS = 30_000;

export interface JobServiceOptions {
  /** How long a runner holds an attempt without a heartbeat before it counts as lost (ms). */
  leaseMs?: number;
  /** The keyring secure macro values travel encrypted with on job.requests (the module always gives one). */
  secrets?: SecretsKeyring;
  /** Where jobconfig writes a job's log when it ends an attempt itself (secure values withheld). */
  storage?: ObjectStorage;
}

/** Transitions applied one after the other in one transaction. */
type Path = [JobStatus, TransitionPatch][];

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
    this.requests = new JobRequests(configs, logger, now, options.secrets, options.storage);
  }

  /** Job requests, and whether a configuration's secure values go with them (ADR 0016). */
  private readonly requests: JobRequests;

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
    const verdict = await this.verdict(c);
    const stored = await this.jobs.transaction((trx) =>
      this.submit(trx, runnable, { id: principal.id, name: principal.name }, req, verdict),
    );
    this.submitted(stored);
    return stored;
  }

  /**
   * Writes a new job of a runnable configuration in `trx`: the job row (SEQUENCED behind an unfinished
   * job of a blocking configuration, QUEUED otherwise), its first status event and, when QUEUED, its
   * request (the outbox publishes them in this order once committed). A QUEUED job whose secure values
   * `verdict` withholds ends at once instead (FAILED `secrets-withheld`, no request). Checks nothing
   * else: run() checks the request first, the scheduler (schedule.scheduler.ts) its tick; both take
   * the verdict ({@link verdict}) before the transaction. Call {@link submitted} after the commit.
   */
  async submit(
    trx: Knex.Transaction,
    c: JobConfigRecord & { packageName: string; entryPoint: string },
    submittedBy: { id: string; name: string },
    req: RunRequest,
    verdict: RequestVerdict,
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
    const withheld = row.status === 'QUEUED' ? this.requests.withheldFrom(row, verdict) : [];
    if (withheld.length > 0) {
      await this.requests.noteWithheld(row, withheld, verdict);
      const path = await this.transitionsIn(trx, row, withheldPath(now));
      await this.outbox.add(trx, [statusRecord(row, null, this.now()), ...(path?.records ?? [])]);
      return path?.final ?? row;
    }
    await this.outbox.add(trx, [
      statusRecord(row, null, this.now()),
      ...(row.status === 'QUEUED' ? [this.requests.record(row, c, verdict)] : []),
    ]);
    return row;
  }

  /** Whether the secure values of `c` may go to a run now (look it up before a transaction). */
  verdict(c: JobConfigRecord | undefined): Promise<RequestVerdict> {
    return this.requests.verdict(c);
  }

  /** After the commit of {@link submit}: wakes the outbox relay. */
  submitted(job: JobRecord): void {
    this.outbox.nudge();
    jobMetrics.transitions.inc({ status: job.status });
    this.logger.info({ jobId: job.id, jobConfigId: job.jobConfigId, status: job.status }, 'job submitted');
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
          job.status === 'QUEUED' ? [cancelRecord(m, by.id, this.now())] : [],
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
        job.status === 'QUEUED' ? [cancelRecord(m, principal.id, this.now())] : [],
      );
      if (moved) return moved;
      return this.cancel(principal, id); // it moved under us; decide again on its new status
    }
    if (job.status === 'INITIALIZING' || job.status === 'RUNNING') {
      await this.jobs.transaction(async (trx) => {
        await this.jobs.markStopRequested(id, by, this.now(), trx);
        await this.outbox.add(trx, [cancelRecord(job, principal.id, this.now())]);
      });
      this.outbox.nudge();
      this.logger.info({ jobId: id, by: principal.id }, 'stop requested');
    }
    return (await this.jobs.findById(id)) as JobRecord;
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
        () => [leaseRecord(this.leaseMs, this.now(), job.id, job.attempt, p.runnerId, true, null)],
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
      await this.requestAgain(job);
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
        leaseRecord(
          this.leaseMs,
          this.now(),
          j.jobId,
          j.attempt,
          hb.runnerId,
          false,
          'the runner no longer holds this attempt',
        ),
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
            leaseRecord(
              this.leaseMs,
              this.now(),
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
      const verdict = await this.verdict(c);
      const next = { ...job, attempt: job.attempt + 1 };
      const withheld = this.requests.withheldFrom(next, verdict);
      if (withheld.length > 0) await this.requests.noteWithheld(next, withheld, verdict);
      const requeue: Path = [
        [
          'QUEUED',
          {
            attempt: next.attempt,
            handovers: job.handovers + (why === 'handover' ? 1 : 0),
            runnerId: null,
            leaseExpiresAt: null,
            currentStep: null,
          },
        ],
      ];
      const moved = await this.applyPath(
        job,
        withheld.length > 0 ? [...requeue, ...withheldPath(this.now())] : requeue,
        (m) => [...stop(m), ...(m.status === 'QUEUED' ? [this.requests.record(m, c, verdict)] : [])],
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

  private async answerClaim(p: JobProgress, granted: boolean, reason: string | null): Promise<void> {
    await this.jobs.transaction((trx) =>
      this.outbox.add(trx, [
        leaseRecord(this.leaseMs, this.now(), p.jobId, p.attempt, p.runnerId, granted, reason),
      ]),
    );
    this.outbox.nudge();
  }

  /**
   * One transition, compare-and-set on the current status, written with its public event (and the
   * records `also` adds) in one transaction; the outbox publishes them once it commits.
   */
  private apply(
    job: JobRecord,
    to: JobStatus,
    patch: TransitionPatch,
    also: (moved: JobRecord) => OutgoingRecord[] = () => [],
  ): Promise<JobRecord | undefined> {
    return this.applyPath(job, [[to, patch]], also);
  }

  /** {@link apply} for transitions one after the other, all in one transaction (each with its event). */
  private async applyPath(
    job: JobRecord,
    path: Path,
    also: (moved: JobRecord) => OutgoingRecord[] = () => [],
  ): Promise<JobRecord | undefined> {
    let from = job.status;
    for (const [i, [to, patch]] of path.entries()) {
      const requeue = i === 0 && to === 'QUEUED' && patch.attempt === job.attempt + 1 && canRequeue(from);
      if (!requeue && !canTransition(from, to)) return undefined;
      from = to;
    }
    const moved = await this.jobs.transaction(async (trx) => {
      const done = await this.transitionsIn(trx, job, path);
      if (done) await this.outbox.add(trx, [...done.records, ...also(done.final)]);
      return done?.final;
    });
    const to = moved?.status ?? (path.at(-1) as Path[number])[0];
    if (!moved) {
      this.logger.info({ jobId: job.id, from: job.status, to }, 'job moved concurrently; transition skipped');
      return undefined;
    }
    this.outbox.nudge();
    for (const [step] of path) jobMetrics.transitions.inc({ status: step });
    if (path[0]?.[0] === 'INITIALIZING' && job.status === 'QUEUED')
      jobMetrics.queued.observe(Math.max(0, moved.updatedAt - job.updatedAt) / 1000);
    if (isTerminal(to) && moved.startedAt !== null && moved.finishedAt !== null)
      jobMetrics.duration.observe({ status: to }, Math.max(0, moved.finishedAt - moved.startedAt) / 1000);
    this.logger.info({ jobId: job.id, from: job.status, to, reason: moved.reason }, 'job status');
    if (isTerminal(to)) await this.promoteSequenced(moved.jobConfigId);
    return moved;
  }

  /**
   * Applies `path` in `trx`, each step a compare-and-set on the status before it; answers the job
   * after the last step and the status events, or undefined when the job had moved already.
   */
  private async transitionsIn(
    trx: Knex.Transaction,
    job: JobRecord,
    path: Path,
  ): Promise<{ final: JobRecord; records: OutgoingRecord[] } | undefined> {
    let current = job;
    const records: OutgoingRecord[] = [];
    for (const [to, patch] of path) {
      const row = await this.jobs.transition(
        job.id,
        current.status,
        to,
        patch,
        this.now(),
        trx,
        current.attempt,
      );
      if (!row) {
        if (current === job) return undefined;
        // Rows are locked by the first step: a later one cannot miss. Rolled back if it does.
        throw new Error(`job ${job.id} moved from ${current.status} within its own transaction`);
      }
      records.push(statusRecord(row, current.status, this.now()));
      current = row;
    }
    return { final: current, records };
  }

  /** For a blocking configuration, the oldest waiting job starts once nothing else of it runs. */
  private async promoteSequenced(jobConfigId: string): Promise<void> {
    const active = await this.jobs.list({ jobConfigId, statuses: ['QUEUED', 'INITIALIZING', 'RUNNING'] });
    if (active.length > 0) return;
    const [next] = await this.jobs.list({ jobConfigId, statuses: ['SEQUENCED'] });
    if (!next) return;
    const c = await this.configs.findById(jobConfigId);
    const verdict = await this.verdict(c);
    const withheld = this.requests.withheldFrom(next, verdict);
    if (withheld.length > 0) {
      await this.requests.noteWithheld(next, withheld, verdict);
      await this.applyPath(next, [['QUEUED', {}], ...withheldPath(this.now())]);
      return;
    }
    await this.apply(next, 'QUEUED', {}, (moved) => [this.requests.record(moved, c, verdict)]);
  }

  /**
   * Sends the request of a QUEUED job again (it was released unclaimed, or the platform restarted);
   * when its secure values are withheld now, the attempt ends instead.
   */
  private async requestAgain(job: JobRecord): Promise<void> {
    const c = await this.configs.findById(job.jobConfigId);
    const verdict = await this.verdict(c);
    const withheld = this.requests.withheldFrom(job, verdict);
    if (withheld.length > 0) {
      await this.requests.noteWithheld(job, withheld, verdict);
      await this.applyPath(job, withheldPath(this.now()));
      return;
    }
    await this.jobs.transaction((trx) => this.outbox.add(trx, [this.requests.record(job, c, verdict)]));
    this.outbox.nudge();
  }

  /**
   * After a restart of the whole platform in one process (standalone): queued jobs are requested
   * again, and jobs that were initializing or running died with the old process.
   */
  async recoverAfterRestart(): Promise<{ requeued: number; failed: number }> {
    let requeued = 0;
    let failed = 0;
    for (const job of await this.jobs.list({ statuses: ['QUEUED'] })) {
      await this.requestAgain(job);
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
