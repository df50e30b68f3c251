import type { Logger } from '@im/logging';
import type { JobService } from './job.service';

/**
 * After the event bus returns, the leases of a runner are kept from running out until its heartbeats
 * flow again (the first one handled here), or at most this long: consumers and producers may need a
 * while to reconnect, each at its own pace.
 */
const BUS_RECOVERY_MAX_MS = 60_000;
const BUS_CHECK_TIMEOUT_MS = 2_000;

export interface LeaseReaperOptions {
  /** Between two passes; default a fifth of the lease, between 100 ms and 1 s. */
  intervalMs?: number;
  /**
   * Resolves when the event bus answers. While it does not, no lease is expired (heartbeats cannot
   * arrive, so silence proves nothing); once it answers again, each runner's leases are kept until
   * that runner is heard again (at most BUS_RECOVERY_MAX_MS), then get a fresh term.
   */
  busCheck?: () => Promise<void>;
  /** The clock, the job service's own (tests move it). Default Date.now. */
  now?: () => number;
}

/**
 * Looks for attempts whose runner stopped heartbeating, a few times per lease, and has the job
 * service re-queue or fail them. Every replica runs one; the job service's compare-and-set makes
 * each expiry handled once. A failing database is logged once per outage, not per tick.
 */
export class LeaseReaper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failing = false;
  private busDown = false;
  /** While recovering from a bus outage: since when, and until when at most. */
  private recovering: { since: number; until: number } | undefined;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly jobs: Pick<
      JobService,
      'reapExpiredLeases' | 'extendLeases' | 'leaseMs' | 'runnersHeardSince' | 'leaseHolders'
    >,
    private readonly logger: Logger,
    private readonly options: LeaseReaperOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? Math.max(100, Math.min(1000, Math.floor(jobs.leaseMs / 5)));
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass (tests call it directly); a pass still running is not started twice. */
  tick(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async busAnswers(): Promise<boolean> {
    if (!this.options.busCheck) return true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.options.busCheck(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer')), BUS_CHECK_TIMEOUT_MS);
        }),
      ]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  private async pass(): Promise<void> {
    try {
      if (!(await this.busAnswers())) {
        if (!this.busDown)
          this.logger.warn(
            'the event bus does not answer: no lease runs out until it does (heartbeats cannot arrive)',
          );
        this.busDown = true;
        return;
      }
      if (this.busDown) {
        this.busDown = false;
        const since = this.now();
        this.recovering = { since, until: since + BUS_RECOVERY_MAX_MS };
        this.logger.warn(
          "the event bus answers again; each runner's leases are kept until its heartbeats arrive again",
        );
        // Nothing renewed them during the outage: every lease gets a full term from here.
        await this.jobs.extendLeases(0);
      }
      if (this.recovering) await this.recover(this.recovering);
      const r = await this.jobs.reapExpiredLeases();
      if (this.failing) this.logger.info('lease checks work again');
      this.failing = false;
      if (r.requeued + r.failed > 0) this.logger.info(r, 'expired leases handled');
    } catch (err) {
      if (!this.failing) this.logger.error({ err }, 'lease check failed; retrying every tick');
      this.failing = true;
    }
  }

  /**
   * One pass of the recovery after a bus outage: the leases of runners not heard since it returned
   * get a fresh term; those of runners heard again run normally. It ends when every runner holding a
   * lease was heard, or after BUS_RECOVERY_MAX_MS (the silent ones then get one last full term).
   */
  private async recover(r: { since: number; until: number }): Promise<void> {
    const heard = [...this.jobs.runnersHeardSince(r.since)];
    const silent = (await this.jobs.leaseHolders()).filter((id) => !heard.includes(id));
    if (silent.length > 0) await this.jobs.extendLeases(0, heard);
    if (silent.length > 0 && this.now() < r.until) return;
    this.logger.warn(
      { silentRunners: silent },
      silent.length === 0
        ? 'every runner holding a lease was heard again; leases run normally'
        : 'runners still silent since the bus returned; their leases run normally from a fresh term',
    );
    this.recovering = undefined;
  }
}
