import type { LogLevel } from '@im/contracts';
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import {
  decodeLogRecord,
  EXECUTOR_SPEC_ENV,
  EXECUTOR_WAIT_ENV,
  parseExecutorMessage,
  RESERVED_SOURCES,
} from './executor/executor.protocol';
import { LineSplitter } from './line.splitter';
import type { ResourceLimitHit, SandboxLease } from './sandbox/os-sandbox';

/** Where an executor's output and messages go: the job that runs in it. */
export interface ExecutorHandlers {
  onLine(level: LogLevel, source: string, text: string): void;
  onStep(name: string): void;
  onFatal(message: string): void;
}

export interface ExecutorStartOptions extends Partial<ExecutorHandlers> {
  executorPath: string;
  /** Node options of the executor: the sandbox's permissions and the heap cap (executor.sandbox.ts). */
  execArgv?: readonly string[];
  /** The executor's working directory (the unpacked package). */
  cwd: string;
  /** HOME of the executor (the attempt's directory). */
  home: string;
  tmpDir: string;
  specFile: string;
  /** PATH handed to the executor. */
  path: string;
  /** Time between SIGTERM and SIGKILL when stopping it. */
  killGraceMs: number;
  /**
   * Start warm: the executor loads its code, then waits for {@link ExecutorProcess.go} before it
   * reads the spec file. Output before {@link ExecutorProcess.attach} is kept and handed over then.
   */
  warm?: boolean;
  /** The OS sandbox the executor runs in (null: a plain child process of the runner). */
  sandbox?: SandboxLease | null;
}

export interface ExecutorExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  spawnError: Error | null;
  /** The sandbox's limit that ended the executor, if one did. */
  limit?: ResourceLimitHit | null;
}

/** How long stdout/stderr may stay open after the executor exited (a grandchild holding them). */
const STDIO_CLOSE_WAIT_MS = 2000;

/**
 * One executor process: forked with a minimal environment and the given Node options (the sandbox),
 * as the leader of its own process group,
 * its output turned into job-log lines, its IPC messages validated. {@link terminate} stops the
 * whole group (SIGTERM, then SIGKILL after the grace period); when the executor exits, whatever it
 * left running in its group is killed too.
 */
export class ExecutorProcess {
  readonly exited: Promise<ExecutorExit>;
  private readonly child: ChildProcess;
  /** Resolves when a warm executor has loaded its code (at once for a cold one). */
  readonly ready: Promise<void>;
  private killTimer: NodeJS.Timeout | undefined;
  private done = false;
  private handlers: ExecutorHandlers | undefined;
  /** What a warm executor said before a job was attached. */
  private early: ((h: ExecutorHandlers) => void)[] = [];
  private markReady: () => void = () => undefined;

  private constructor(private readonly o: ExecutorStartOptions) {
    if (o.onLine && o.onStep && o.onFatal)
      this.handlers = { onLine: o.onLine, onStep: o.onStep, onFatal: o.onFatal };
    this.ready = o.warm ? new Promise<void>((resolve) => (this.markReady = resolve)) : Promise.resolve();
    const node = [process.execPath, ...(o.execArgv ?? []), o.executorPath];
    const cmd = o.sandbox
      ? o.sandbox.command(node)
      : { command: process.execPath, args: node.slice(1), extraStdio: [] };
    this.child = spawn(cmd.command, cmd.args, {
      cwd: o.cwd,
      env: {
        PATH: o.path,
        HOME: o.home,
        TMPDIR: o.tmpDir,
        [EXECUTOR_SPEC_ENV]: o.specFile,
        ...(o.warm ? { [EXECUTOR_WAIT_ENV]: '1' } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc', ...cmd.extraStdio],
      serialization: 'json',
      detached: process.platform !== 'win32',
    });
    const out = new LineSplitter((line) => this.onOutput(line, 'INFO'));
    const err = new LineSplitter((line) => this.onOutput(line, 'WARNING'));
    this.child.stdout?.on('data', (c: Buffer) => out.push(c));
    this.child.stderr?.on('data', (c: Buffer) => err.push(c));
    this.child.on('message', (m: unknown) => this.onMessage(m));
    if (this.child.pid !== undefined) o.sandbox?.started(this.child, () => this.signalGroup('SIGKILL'));

    this.exited = new Promise<ExecutorExit>((resolve) => {
      this.child.on('error', (error) => {
        // Without a pid the process never started and no 'exit' follows. Later errors (a failed
        // kill or IPC send) change nothing: 'exit' still comes.
        if (this.child.pid === undefined && !this.done) {
          this.done = true;
          void o.sandbox?.finish();
          resolve({ code: null, signal: null, spawnError: error });
        }
      });
      this.child.once('exit', (rawCode, rawSignal) => {
        this.done = true;
        this.markReady();
        if (this.killTimer) clearTimeout(this.killTimer);
        this.signalGroup('SIGKILL'); // leftovers of the job, if any
        // bubblewrap reports a job killed by a signal as exit code 128 + its number.
        const { code, signal } = o.sandbox
          ? signalOf(rawCode, rawSignal)
          : { code: rawCode, signal: rawSignal };
        void Promise.all([this.stdioClosed(), o.sandbox?.finish(signal) ?? Promise.resolve(null)]).then(
          ([, limit]) => {
            out.end();
            err.end();
            resolve({ code, signal, spawnError: null, limit });
          },
        );
      });
    });
  }

  static start(options: ExecutorStartOptions): ExecutorProcess {
    return new ExecutorProcess(options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** False once the process exited (or never started). */
  get alive(): boolean {
    return !this.done && this.child.pid !== undefined;
  }

  /** Routes the executor's output and messages to a job, starting with what it said before. */
  attach(handlers: ExecutorHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = [];
    for (const deliver of early) deliver(handlers);
  }

  /** Tells a warm executor to read its spec file and run the job. */
  go(): void {
    if (!this.done && this.child.connected) this.child.send({ type: 'go' });
  }

  private deliver(fn: (h: ExecutorHandlers) => void): void {
    if (this.handlers) fn(this.handlers);
    else this.early.push(fn);
  }

  /**
   * SIGTERM now, SIGKILL after the grace period if the executor is still there. Idempotent. In the
   * sandbox, SIGTERM goes to the job's own processes (stopping bubblewrap would kill them at once).
   */
  terminate(): void {
    if (this.done || this.killTimer) return;
    this.killTimer = setTimeout(() => this.signalGroup('SIGKILL'), this.o.killGraceMs);
    const sandbox = this.o.sandbox;
    if (!sandbox) return this.signalGroup('SIGTERM');
    void sandbox.stopTargets(this.child.pid).then((pids) => {
      if (pids.length === 0) return this.signalGroup('SIGTERM');
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // ended meanwhile
        }
      }
    });
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      if (process.platform === 'win32') this.child.kill(signal);
      else process.kill(-pid, signal);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ESRCH' && code !== 'EPERM') throw err;
    }
  }

  private stdioClosed(): Promise<void> {
    const streams = [this.child.stdout, this.child.stderr].filter(
      (s) => s !== null && !s.destroyed && !s.readableEnded,
    );
    const closed = Promise.all(streams.map((s) => new Promise<void>((r) => s?.once('close', () => r()))));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => {
      timer = setTimeout(() => {
        for (const s of streams) s?.destroy();
        r();
      }, STDIO_CLOSE_WAIT_MS);
    });
    return Promise.race([closed.then(() => undefined), timeout]).finally(() => clearTimeout(timer));
  }

  /** A plain line is the entry point's output (INFO on stdout, WARNING on stderr); a record keeps its level. */
  private onOutput(line: string, plainLevel: LogLevel): void {
    const rec = decodeLogRecord(line);
    if (!rec) this.deliver((h) => h.onLine(plainLevel, 'entry', line));
    else {
      const source = RESERVED_SOURCES.has(rec.source) ? 'entry' : rec.source;
      this.deliver((h) => h.onLine(rec.level, source, rec.text));
    }
  }

  private onMessage(m: unknown): void {
    const parsed = parseExecutorMessage(m);
    if (!parsed) return; // a package may call process.send itself; not ours
    switch (parsed.type) {
      case 'step': {
        const name = parsed.name;
        this.deliver((h) => h.onStep(name));
        return;
      }
      case 'fatal': {
        const message = parsed.message;
        this.deliver((h) => h.onFatal(message));
        return;
      }
      case 'ready':
        this.markReady();
        return;
    }
  }
}

/** An exit code 128 + n of a sandbox (bubblewrap's way of saying "killed by signal n"), as the signal. */
function signalOf(
  code: number | null,
  signal: NodeJS.Signals | null,
): { code: number | null; signal: NodeJS.Signals | null } {
  if (code === null || code <= 128 || code > 128 + 64) return { code, signal };
  const found = Object.entries(osConstants.signals).find(([, n]) => n === code - 128);
  return found ? { code: null, signal: found[0] as NodeJS.Signals } : { code, signal };
}

/** 128 + signal number, as a shell reports a process killed by a signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[signal];
  return 128 + (n ?? 0);
}
