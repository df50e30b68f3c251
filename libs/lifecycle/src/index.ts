import type { Logger } from '@im/logging';

/**
 * Ordered shutdown phases. Hooks of one phase run together; phases run in this order, so readiness
 * goes red before intake stops, in-flight work drains before clients close.
 */
export const SHUTDOWN_PHASES = ['stop-readiness', 'stop-intake', 'drain', 'close-clients'] as const;
export type ShutdownPhase = (typeof SHUTDOWN_PHASES)[number];

type Hook = { name: string; fn: () => Promise<void> | void };

export class ShutdownManager {
  private readonly hooks = new Map<ShutdownPhase, Hook[]>();
  private running: Promise<void> | undefined;
  private draining = false;

  constructor(
    private readonly logger: Logger,
    /** Hard deadline for the whole shutdown; keep it below the pod's termination grace period. */
    private readonly deadlineMs = 25_000,
  ) {}

  get isShuttingDown(): boolean {
    return this.draining;
  }

  register(phase: ShutdownPhase, name: string, fn: () => Promise<void> | void): void {
    const list = this.hooks.get(phase) ?? [];
    list.push({ name, fn });
    this.hooks.set(phase, list);
  }

  /** Runs every phase once; later calls return the same promise. Never rejects. */
  shutdown(reason: string): Promise<void> {
    if (this.running) return this.running;
    this.draining = true;
    this.logger.info({ reason }, 'shutting down');
    const work = (async () => {
      for (const phase of SHUTDOWN_PHASES) {
        const hooks = this.hooks.get(phase) ?? [];
        await Promise.all(
          hooks.map(async (h) => {
            try {
              await h.fn();
            } catch (err) {
              this.logger.error({ err, phase, hook: h.name }, 'shutdown hook failed');
            }
          }),
        );
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.logger.warn({ deadlineMs: this.deadlineMs }, 'shutdown deadline reached; giving up on the rest');
        resolve();
      }, this.deadlineMs);
      timer.unref();
    });
    this.running = Promise.race([work, deadline]).finally(() => clearTimeout(timer));
    return this.running;
  }

  /** Wires SIGTERM and SIGINT to {@link shutdown}, then exits. Only a `main.ts` calls this. */
  installSignalHandlers(exit: (code: number) => void = (code) => process.exit(code)): void {
    const onSignal = (signal: NodeJS.Signals) => {
      void this.shutdown(signal).then(() => exit(0));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
}
