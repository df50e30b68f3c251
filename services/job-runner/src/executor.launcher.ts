import type { Logger } from '@im/logging';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import {
  ACCESS_DENIED,
  executorCode,
  executorExecArgv,
  OUT_OF_MEMORY,
  type ExecutorCode,
} from './executor.sandbox';
import { ExecutorProcess, type ExecutorHandlers, type ExecutorStartOptions } from './executor.supervisor';
import { JobWorkspace } from './job.workspace';
import { OsSandbox, type OsSandboxSettings, type SandboxLease } from './sandbox/os-sandbox';
import { WarmExecutors, type WarmExecutor } from './warm-executors';

/** Attempt directories of warm executors: `warm-<uuid>` (job attempts use `<jobId>-<attempt>`). */
const WARM_DIR_PREFIX = 'warm-';

export interface ExecutorLauncherOptions {
  executorPath: string;
  workDir: string;
  logger: Logger;
  /** Node's permission model inside the executor (JOBS_SANDBOX). */
  permissionModel: boolean;
  /** The OS sandbox around every executor (JOBS_ISOLATION=bwrap); null runs executors as plain children. */
  isolation: Omit<OsSandboxSettings, 'memoryMb'> | null;
  memoryMb: number;
  warmExecutors: number;
  killGraceMs: number;
  /** PATH handed to the executor. */
  searchPath: string;
}

/**
 * Starts executors, cold or ahead of their jobs (ADR 0007), each inside its boundary: the OS
 * sandbox of its own attempt directory (ADR 0013) and, inside it, Node's permission model.
 */
export class ExecutorLauncher {
  /** What the executor may read of the platform's code; null when neither boundary is on. */
  private code: ExecutorCode | null = null;
  private sandbox: OsSandbox | null = null;
  private warm: WarmExecutors | undefined;

  constructor(private readonly o: ExecutorLauncherOptions) {}

  /** Finds the executor's code, sets up the sandbox (checking it works here) and warms executors. */
  async start(): Promise<void> {
    const { o } = this;
    if (o.permissionModel || o.isolation) {
      try {
        this.code = await executorCode(o.executorPath, await fs.realpath(o.workDir));
      } catch (err) {
        throw new Error(
          `The executor sandbox cannot be set up: ${(err as Error).message}. Fix that, or run without the sandbox (JOBS_SANDBOX=false and JOBS_ISOLATION=none) only where every package is trusted.`,
        );
      }
    }
    if (o.isolation && this.code) {
      try {
        const opened = await OsSandbox.openPathTo(o.workDir);
        if (opened.length > 0)
          o.logger.warn(
            { dirs: opened },
            'let job user ids pass through the work dir and its parents (o+x: nothing in them became listable or readable)',
          );
        this.sandbox = await OsSandbox.create({ ...o.isolation, memoryMb: o.memoryMb }, [
          ...this.code.readPaths,
          ...this.code.reachable,
          o.executorPath,
        ]);
      } catch (err) {
        throw new Error(
          `The job isolation cannot be set up: ${(err as Error).message}. Fix that, or set JOBS_ISOLATION=none only where every package is trusted (a package could then reach the runner, its keys and other jobs).`,
        );
      }
    }
    await this.startWarmExecutors();
  }

  /** What the runner logs at start. */
  describe(): Record<string, unknown> {
    return {
      permissionModel: this.code !== null && this.o.permissionModel,
      isolation: this.sandbox?.describe() ?? 'none',
      executorReadPaths: this.code?.readPaths,
    };
  }

  get idlePids(): number[] {
    return this.warm?.idlePids ?? [];
  }

  /** A pre-started executor, if one is (or is about to be) ready. */
  take(): Promise<WarmExecutor | undefined> {
    return this.warm ? this.warm.take() : Promise.resolve(undefined);
  }

  /** Starts the job's executor in `ws` now. */
  async startCold(ws: JobWorkspace, handlers: ExecutorHandlers): Promise<ExecutorProcess> {
    return ExecutorProcess.start({ ...(await this.options(ws)), ...handlers });
  }

  /** Hands a warm executor its job (prepared in its directory) and tells it to run. */
  async go(w: WarmExecutor, handlers: ExecutorHandlers): Promise<void> {
    await w.lease?.handOver();
    w.proc.attach(handlers);
    w.proc.go();
  }

  /** Lines explaining to the job's owner what a boundary did (by id, written once per job). */
  hints(text: string): { id: string; line: string }[] {
    const out: { id: string; line: string }[] = [];
    if (this.code && this.o.permissionModel && ACCESS_DENIED.test(text))
      out.push({
        id: 'sandbox',
        line: 'the sandbox refused an operation of the package: a job may read only its own directory, write only its spec/, out/ and tmp/ directories, and may not start processes or worker threads or load native addons',
      });
    if (OUT_OF_MEMORY.test(text))
      out.push({
        id: 'memory',
        line: `the job ran out of memory: its heap is capped at ${this.o.memoryMb} MiB (JOBS_MEMORY_MB)`,
      });
    return out;
  }

  async close(): Promise<void> {
    await this.warm?.close();
  }

  /** How an executor for the attempt directory `ws` is started: the boundary of that directory. */
  private async options(ws: JobWorkspace): Promise<ExecutorStartOptions> {
    const real = async (d: string) => [...new Set([d, await fs.realpath(d).catch(() => d)])];
    const execArgv = executorExecArgv({
      code: this.o.permissionModel ? this.code : null,
      memoryMb: this.o.memoryMb,
      readDirs: await real(ws.dir),
      writeDirs: (await Promise.all(ws.writableDirs.map(real))).flat(),
    });
    const sandbox: SandboxLease | null = this.sandbox ? await this.sandbox.prepare(ws) : null;
    return {
      executorPath: this.o.executorPath,
      execArgv,
      cwd: ws.specDir,
      home: ws.dir,
      tmpDir: ws.tmpDir,
      specFile: ws.specFile,
      path: this.o.searchPath,
      killGraceMs: this.o.killGraceMs,
      sandbox,
    };
  }

  /** Pre-starts executors in fresh attempt directories (none when `warmExecutors` is 0). */
  private async startWarmExecutors(): Promise<void> {
    const { o } = this;
    // Directories of warm executors a previous run of this runner left behind.
    for (const e of await fs.readdir(o.workDir).catch(() => [] as string[]))
      if (e.startsWith(WARM_DIR_PREFIX))
        await fs.rm(path.join(o.workDir, e), { recursive: true, force: true }).catch(() => undefined);
    if (o.warmExecutors <= 0) return;
    this.warm = new WarmExecutors(
      o.warmExecutors,
      async () => {
        const ws = new JobWorkspace(path.join(o.workDir, `${WARM_DIR_PREFIX}${randomUUID()}`));
        await ws.create();
        const options = await this.options(ws);
        const proc = ExecutorProcess.start({ ...options, warm: true });
        await proc.ready;
        if (!proc.alive) {
          await proc.exited;
          await ws.remove().catch(() => undefined);
          throw new Error('the warm executor exited while loading');
        }
        return { ws, proc, lease: options.sandbox ?? null };
      },
      o.logger.child({ component: 'warm-executors' }),
    );
    this.warm.fill();
  }
}
