import type { Logger } from '@im/logging';
import type { JobService } from './job.service';

/**
 * After the event bus returns, leases are kept from running out until heartbeats flow again (the
 * first one handled), or at most this long: consumers may need a while to rejoin their groups.
 */
const BUS_RECOVERY_MAX_MS = 60_000;
const BUS_CHECK_TIMEOUT_MS = 2_000;

export interface LeaseReaperOptions {
  /** Between two passes; default a fifth of the lease, between 100 ms and 1 s. */
  intervalMs?: number;
  /**
   * Resolves when the event bus answers. While it does not, no lease is expired (heartbeats cannot
   * arrive, so silence proves nothing); once it answers again, every lease gets a fresh term.
   */
  busCheck?: () => Promise<void>;
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
  /** While recovering from a bus outage: until when, and the heartbeat count it started at. */
  private recovering: { until: number; beats: number } | undefined;
  private readonly intervalMs: number;

  constructor(
    private readonly jobs: Pick<
      JobService,
      'reapExpiredLeases' | 'extendLeases' | 'leaseMs' | 'heartbeatsHandled'
    >,
    private readonly logger: Logger,
    private readonly options: LeaseReaperOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? Math.max(100, Math.min(1000, Math.floor(jobs.leaseMs / 5)));
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
        this.recovering = { until: Date.now() + BUS_RECOVERY_MAX_MS, beats: this.jobs.heartbeatsHandled };
        this.logger.warn('the event bus answers again; leases are kept until heartbeats arrive again');
      }
      if (this.recovering) {
        const flowing = this.jobs.heartbeatsHandled > this.recovering.beats;
        if (!flowing && Date.now() < this.recovering.until) {
          await this.jobs.extendLeases(0);
          return;
        }
        this.logger.warn(
          { heartbeatsFlowing: flowing },
          flowing
            ? 'heartbeats arrive again; leases run normally'
            : 'no heartbeat since the bus returned; leases run normally',
        );
        this.recovering = undefined;
        // One full lease from here for every runner to be heard.
        await this.jobs.extendLeases(0);
        return;
      }
      const r = await this.jobs.reapExpiredLeases();
      if (this.failing) this.logger.info('lease checks work again');
      this.failing = false;
      if (r.requeued + r.failed > 0) this.logger.info(r, 'expired leases handled');
    } catch (err) {
      if (!this.failing) this.logger.error({ err }, 'lease check failed; retrying every tick');
      this.failing = true;
    }
  }
}
