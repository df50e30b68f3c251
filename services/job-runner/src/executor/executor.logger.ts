import type { LogLevel } from '@im/contracts';
import { format } from 'node:util';
import { redactCredentials } from './credential.redaction';
import { encodeLogRecord } from './executor.protocol';

/** The logger a package's script receives in its context. */
export interface PackageLogger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
}

export interface ExecutorLogger extends PackageLogger {
  /** For errors the executor itself reports (a step failed, the definition is invalid). */
  severe(...args: unknown[]): void;
  /** The same sink under another source, e.g. `step:greet`. */
  child(source: string): ExecutorLogger;
}

const RANK: Record<LogLevel, number> = { SEVERE: 0, WARNING: 1, INFO: 2, DEBUG: 3 };

export function levelEnabled(threshold: LogLevel, level: LogLevel): boolean {
  return RANK[level] <= RANK[threshold];
}

/**
 * Writes job-log records to stdout, the same stream a package's `console.log` writes to, so the
 * two stay in order. The runner filters by level again; dropping here only saves work. Credentials
 * in URLs and connection strings are redacted from every line (see credential.redaction.ts).
 */
export function createExecutorLogger(
  threshold: LogLevel,
  source: string,
  write: (chunk: string) => void = (chunk) => {
    process.stdout.write(chunk);
  },
): ExecutorLogger {
  const emit = (level: LogLevel, args: unknown[]) => {
    if (levelEnabled(threshold, level))
      write(encodeLogRecord(level, source, redactCredentials(format(...args))));
  };
  return {
    info: (...args) => emit('INFO', args),
    warn: (...args) => emit('WARNING', args),
    error: (...args) => emit('SEVERE', args),
    debug: (...args) => emit('DEBUG', args),
    severe: (...args) => emit('SEVERE', args),
    child: (s) => createExecutorLogger(threshold, s, write),
  };
}

/** The message of an error, as a package author wants to read it (no stack). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return typeof err === 'string' ? err : format('%o', err);
}

/** Logs a package's error: its message as SEVERE (or WARNING when it is tolerated), its stack as DEBUG. */
export function logPackageError(
  logger: ExecutorLogger,
  prefix: string,
  err: unknown,
  tolerated = false,
): void {
  if (tolerated) logger.warn(`${prefix}${errorMessage(err)}`);
  else logger.severe(`${prefix}${errorMessage(err)}`);
  if (err instanceof Error && err.stack) logger.debug(err.stack);
}
