import type { Principal } from './auth.schema';
import type { LogLevel } from './jobconfig.schema';

/**
 * Synchronous questions one service asks another while a user waits. Each has an in-process adapter
 * (standalone) and an internal-HTTP adapter (one process per service); the services see only these.
 */

/** Asked by file-storage: may this caller touch this configuration's files? */
export interface ConfigAccessPort {
  /** Resolves when the configuration exists and the caller may use it; rejects with a 404 otherwise. */
  assertAccess(principal: Principal, jobConfigId: string): Promise<void>;
}

/** Asked by jobconfig: what files does a configuration have, and what is in a package? */
export interface FileCatalogPort {
  exists(principal: Principal, jobConfigId: string, key: string): Promise<boolean>;
  /** Entry points of an attached package; rejects with a 404 when there is no such file. */
  entryPoints(principal: Principal, jobConfigId: string, key: string): Promise<string[]>;
}

/** Where a configuration's files live in object storage. */
export function packagePrefix(jobConfigId: string): string {
  return `configuration/${jobConfigId}`;
}

export function jobLogKey(jobId: string): string {
  return `jobs/${jobId}/log.txt`;
}

/** One line of a job log: `2026-11-28T10:15:31.004Z INFO  [entry] text` (runners and jobconfig write them). */
export function formatJobLogLine(at: Date, level: LogLevel, source: string, text: string): string {
  return `${at.toISOString()} ${level.padEnd(5)} [${source}] ${text}\n`;
}

/**
 * Where the exact bytes of a package a job ran are kept, by their sha256: written once per package
 * version by the runner that first runs it, read by GET /api/jobs/{id}/package.
 */
export function packageArchiveKey(sha256: string): string {
  return `packages/sha256/${sha256}`;
}

export function jobOutPrefix(jobId: string): string {
  return `jobs/${jobId}/out/`;
}
