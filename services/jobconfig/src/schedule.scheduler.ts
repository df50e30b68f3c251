import type { Logger } from '@im/logging';
import type { JobConfigService } from './job-config.service';
import type { JobRecord } from './job.repository';
import type { JobService } from './job.service';
import type { DueSchedule, ScheduleRepository } from './schedule.repository';
import { planTick } from './schedule.timeline';

export interface SchedulerOptions {
  /** How often the scheduler looks for due schedules (SCHEDULER_POLL_MS). */
  pollMs?: number;
  /** Most schedules handled in one pass. */
  batch?: number;
  now?: () => number;
}

export const DEFAULT_SCHEDULER_POLL_MS = 1000;
/** The longest wait before a schedule whose submission keeps failing is tried again. */
export const MAX_RETRY_BACKOFF_MS = 60_000;

/** What one pass did, for tests and logs. */
export interface SchedulerPass {
  fired: JobRecord[];
  /** Ticks claimed and moved on without a job (inactive or not runnable configuration, skipped misfire). */
  skipped: number;
  /** Ticks another scheduler had claimed first. */
  lost: number;
}

/**
 * Fires configurations' schedules. Every jobconfig replica runs one; a tick fires once however many
 * run: each claims a due tick with a compare-and-set on `schedules.next_fire_at` and, in the same
 * transaction, submits the job (job row and outbox rows), so the claim and the job commit together or
 * not at all (ADR 0010). The job is submitted by the configuration's owner.
 */
export class Scheduler {
  private readonly pollMs: number;
  private readonly batch: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;
  /** Schedules whose submission failed: how often in a row, and not to be tried before when. */
  private readonly failing = new Map<string, { failures: number; retryAt: number }>();

  constructor(
    private readonly repo: ScheduleRepository,
    private readonly configs: JobConfigService,
    private readonly jobs: JobService,
    private readonly logger: Logger,
    options: SchedulerOptions = {},
  ) {
    this.pollMs = options.pollMs ?? DEFAULT_SCHEDULER_POLL_MS;
    this.batch = options.batch ?? 100;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
    this.logger.info({ pollMs: this.pollMs }, 'scheduler started');
  }

  /** Stops polling and waits for the pass in progress (its transactions commit or roll back). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    this.logger.info('scheduler stopped');
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((err: unknown) => this.logger.error({ err }, 'scheduler pass failed; trying again'))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule();
        });
    }, this.pollMs);
    this.timer.unref();
  }

  /**
   * One pass: every schedule due now fires (or is skipped) once. One whose submission failed stays
   * due and is tried again after a backoff (one poll, doubling up to a minute), so it neither floods
   * the log nor holds the batch from the others.
   */
  async tick(): Promise<SchedulerPass> {
    const pass: SchedulerPass = { fired: [], skipped: 0, lost: 0 };
    const now = this.now();
    for (const [id, f] of this.failing)
      if (f.retryAt < now - 2 * MAX_RETRY_BACKOFF_MS) this.failing.delete(id); // not due any more
    const waiting = [...this.failing].filter(([, f]) => f.retryAt > now).map(([id]) => id);
    for (const s of await this.repo.due(now, this.batch, waiting)) {
      try {
        const outcome = await this.fire(s);
        if (this.failing.delete(s.jobConfigId))
          this.logger.info({ jobConfigId: s.jobConfigId }, 'scheduled run submitted again after failures');
        if (outcome === 'lost') pass.lost++;
        else if (outcome === 'skipped') pass.skipped++;
        else pass.fired.push(outcome);
      } catch (err) {
        // Rolled back: the tick is still due, tried again after the backoff.
        const f = this.failing.get(s.jobConfigId) ?? { failures: 0, retryAt: 0 };
        f.failures++;
        const retryInMs = Math.min(MAX_RETRY_BACKOFF_MS, this.pollMs * 2 ** (f.failures - 1));
        f.retryAt = now + retryInMs;
        this.failing.set(s.jobConfigId, f);
        if (f.failures === 1 || f.failures % 10 === 0)
          this.logger.error(
            { err, jobConfigId: s.jobConfigId, failures: f.failures, retryInMs },
            'scheduled run failed; the tick stays due and is tried again',
          );
      }
    }
    return pass;
  }

  private async fire(s: DueSchedule): Promise<JobRecord | 'lost' | 'skipped'> {
    const now = this.now();
    const plan = planTick(s, s.nextFireAt, s.misfirePolicy, now);
    const c = await this.configs.findById(s.jobConfigId);
    // A deactivated owner's configurations do not run, on schedule neither (the ticks pass).
    const ownerInactive = c ? await this.configs.ownerInactive(c) : false;
    // Whether its secure values go with the run (a storage lookup: before the transaction).
    const verdict = await this.jobs.verdict(c);
    const log = {
      jobConfigId: s.jobConfigId,
      tick: new Date(s.nextFireAt).toISOString(),
      next: plan.next === null ? null : new Date(plan.next).toISOString(),
    };
    const job = await this.repo.transaction(async (trx) => {
      if (!(await this.repo.claim(trx, s.jobConfigId, s.nextFireAt, plan.next))) return 'lost' as const;
      if (!plan.fire) {
        this.logger.warn({ ...log, policy: s.misfirePolicy }, 'schedule missed its ticks; skipped them');
        return 'skipped' as const;
      }
      if (!c || !c.active || !c.packageName || !c.entryPoint || ownerInactive) {
        this.logger.warn(
          {
            ...log,
            active: c?.active,
            packageName: c?.packageName,
            entryPoint: c?.entryPoint,
            ownerInactive,
          },
          'scheduled configuration is inactive, has no package or entry point, or its owner is deactivated; tick skipped',
        );
        return 'skipped' as const;
      }
      if (plan.missed)
        this.logger.warn({ ...log, policy: s.misfirePolicy }, 'schedule missed its ticks; firing once');
      return this.jobs.submit(
        trx,
        { ...c, packageName: c.packageName, entryPoint: c.entryPoint },
        { id: c.ownerId, name: c.ownerName },
        {},
        verdict,
      );
    });
    if (typeof job === 'string') return job;
    this.jobs.submitted(job);
    this.logger.info({ ...log, jobId: job.id }, 'scheduled run submitted');
    return job;
  }
}
