import type { Logger } from '@im/logging';
import type { ExecutorProcess } from './executor.supervisor';
import type { JobWorkspace } from './job.workspace';
import type { SandboxLease } from './sandbox/os-sandbox';

/** An executor started ahead of its job, in the empty work dir the job will use. */
export interface WarmExecutor {
  ws: JobWorkspace;
  proc: ExecutorProcess;
  /** Its place in the OS sandbox (null without one). */
  lease?: SandboxLease | null;
}

/**
 * A few executors started before any job needs them (ADR 0007): each loads the executor's code in a
 * fresh process, inside the sandbox of its own empty attempt directory, and waits. A job takes one,
 * unpacks its package into that directory, writes the spec and says `go`, which saves the process
 * start and module loading (~0.3 s) from its latency. Every process still runs exactly one job and
 * is never reused; a taken one is replaced at once.
 */
export class WarmExecutors {
  private readonly idle: WarmExecutor[] = [];
  /** Starts under way (each settles after its executor is idle or disposed of). */
  private readonly pending = new Set<Promise<void>>();
  private starting = 0;
  /** Jobs waiting for the executor being started. */
  private readonly waiters: ((w: WarmExecutor | undefined) => void)[] = [];
  private closed = false;
  private failures = 0;

  constructor(
    private readonly size: number,
    private readonly startOne: () => Promise<WarmExecutor>,
    private readonly logger: Logger,
  ) {}

  /** Executors ready or being started. */
  get count(): number {
    return this.idle.length + this.starting;
  }

  /** Process ids of the executors ready and waiting for a job. */
  get idlePids(): number[] {
    return this.idle.flatMap((w) => (w.proc.alive && w.proc.pid !== undefined ? [w.proc.pid] : []));
  }

  /** Starts executors until `size` are ready or starting. */
  fill(): void {
    while (!this.closed && this.size > 0 && this.count < this.size && this.failures < 3) {
      this.starting++;
      const p: Promise<void> = this.startOne()
        .then(async (w) => {
          this.starting--;
          this.failures = 0;
          if (this.closed) return this.dispose(w);
          const waiter = this.waiters.shift();
          if (waiter) return waiter(w);
          this.idle.push(w);
          // One that dies while waiting (killed, out of memory) is dropped; the next take refills.
          void w.proc.exited.then(() => {
            const i = this.idle.indexOf(w);
            if (i >= 0) {
              this.idle.splice(i, 1);
              void this.dispose(w);
            }
          });
        })
        .catch((err: unknown) => {
          this.starting--;
          this.failures++;
          this.logger.warn({ err }, 'could not start a warm executor; jobs start cold meanwhile');
          if (this.starting === 0) for (const waiter of this.waiters.splice(0)) waiter(undefined);
        })
        .finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /**
   * A live warm executor for a job: a ready one, else the next one to finish starting (sooner than a
   * cold start, which would compete with it for the CPU); undefined when none is on its way. A
   * replacement is started either way.
   */
  async take(): Promise<WarmExecutor | undefined> {
    let found: WarmExecutor | undefined;
    while (!found && this.idle.length > 0) {
      const w = this.idle.shift() as WarmExecutor;
      if (w.proc.alive) found = w;
      else void this.dispose(w);
    }
    this.failures = 0;
    if (found) {
      this.fill();
      return found;
    }
    this.fill();
    if (this.starting <= this.waiters.length || this.closed) return undefined;
    const next = await new Promise<WarmExecutor | undefined>((resolve) => this.waiters.push(resolve));
    this.fill();
    if (next && !next.proc.alive) {
      void this.dispose(next);
      return undefined;
    }
    return next;
  }

  /** Stops the idle executors and removes their directories. */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
    const idle = this.idle.splice(0);
    await Promise.all([...idle.map((w) => this.dispose(w)), ...this.pending]);
  }

  private async dispose(w: WarmExecutor): Promise<void> {
    w.proc.terminate();
    await w.proc.exited;
    await w.ws.remove().catch(() => undefined);
  }
}
