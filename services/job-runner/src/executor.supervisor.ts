import type { LogLevel } from '@im/contracts';
import { fork, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import {
  decodeLogRecord,
  EXECUTOR_SPEC_ENV,
  ExecutorMessage,
  RESERVED_SOURCES,
} from './executor/executor.protocol';
import { LineSplitter } from './line.splitter';

export interface ExecutorStartOptions {
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
  onLine(level: LogLevel, source: string, text: string): void;
  onStep(name: string): void;
  onFatal(message: string): void;
}

export interface ExecutorExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  spawnError: Error | null;
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
  private killTimer: NodeJS.Timeout | undefined;
  private done = false;

  private constructor(private readonly o: ExecutorStartOptions) {
    this.child = fork(o.executorPath, [], {
      cwd: o.cwd,
      env: { PATH: o.path, HOME: o.home, TMPDIR: o.tmpDir, [EXECUTOR_SPEC_ENV]: o.specFile },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execArgv: [...(o.execArgv ?? [])],
      serialization: 'json',
      detached: process.platform !== 'win32',
    });
    const out = new LineSplitter((line) => this.onOutput(line, 'INFO'));
    const err = new LineSplitter((line) => this.onOutput(line, 'WARNING'));
    this.child.stdout?.on('data', (c: Buffer) => out.push(c));
    this.child.stderr?.on('data', (c: Buffer) => err.push(c));
    this.child.on('message', (m: unknown) => this.onMessage(m));

    this.exited = new Promise<ExecutorExit>((resolve) => {
      this.child.on('error', (error) => {
        // Without a pid the process never started and no 'exit' follows. Later errors (a failed
        // kill or IPC send) change nothing: 'exit' still comes.
        if (this.child.pid === undefined && !this.done) {
          this.done = true;
          resolve({ code: null, signal: null, spawnError: error });
        }
      });
      this.child.once('exit', (code, signal) => {
        this.done = true;
        if (this.killTimer) clearTimeout(this.killTimer);
        this.signalGroup('SIGKILL'); // leftovers of the job, if any
        void this.stdioClosed().then(() => {
          out.end();
          err.end();
          resolve({ code, signal, spawnError: null });
        });
      });
    });
  }

  static start(options: ExecutorStartOptions): ExecutorProcess {
    return new ExecutorProcess(options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** SIGTERM now, SIGKILL after the grace period if the executor is still there. Idempotent. */
  terminate(): void {
    if (this.done || this.killTimer) return;
    this.signalGroup('SIGTERM');
    this.killTimer = setTimeout(() => this.signalGroup('SIGKILL'), this.o.killGraceMs);
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
    if (!rec) this.o.onLine(plainLevel, 'entry', line);
    else this.o.onLine(rec.level, RESERVED_SOURCES.has(rec.source) ? 'entry' : rec.source, rec.text);
  }

  private onMessage(m: unknown): void {
    const parsed = ExecutorMessage.safeParse(m);
    if (!parsed.success) return; // a package may call process.send itself; not ours
    switch (parsed.data.type) {
      case 'step':
        this.o.onStep(parsed.data.name);
        return;
      case 'fatal':
        this.o.onFatal(parsed.data.message);
        return;
    }
  }
}

/** 128 + signal number, as a shell reports a process killed by a signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[signal];
  return 128 + (n ?? 0);
}
