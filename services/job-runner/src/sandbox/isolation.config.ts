import { z } from '@im/contracts';
import { envBoolean, envInt } from '@im/config';
import type { OsSandboxSettings } from './os-sandbox';

/**
 * The settings of the job boundary (docs/operations.md, ADR 0013), shared by the job runner's and the
 * standalone platform's configuration.
 */
export const isolationEnv = {
  /** The OS boundary around every job: `bwrap` (bubblewrap, namespaces, a user id of its own, cgroup and rlimits) or `none` (only where every package is trusted). */
  JOBS_ISOLATION: z.enum(['bwrap', 'none']).default('bwrap'),
  /** What a job's network reaches: `none` (nothing), `egress` (other hosts through slirp4netns, never the host's loopback), `host` (everything the runner reaches; trusted packages only). */
  JOBS_NETWORK: z.enum(['none', 'egress', 'host']).default('none'),
  /** Run each job under Node's permission model as a second line (reads: its own dir and the executor's code; writes: its own dir; no processes, workers, addons). */
  JOBS_SANDBOX: envBoolean(true),
  /** Heap cap of each job's executor (V8 --max-old-space-size), MiB; all its memory is capped at this + 128 MiB. */
  JOBS_MEMORY_MB: envInt(512, 16),
  /** Tasks (processes and threads) one job may have. */
  JOBS_MAX_PROCESSES: envInt(64, 16),
  /** CPU time one process of a job may use, seconds. */
  JOBS_CPU_SECONDS: envInt(3600, 1),
  /** What one job may write (its directory's growth, and its largest file), MiB. */
  JOBS_DISK_MB: envInt(1024, 1),
  /** First of the 65,536 unprivileged user ids jobs run as (one per job, when the runner is root). */
  JOBS_UID_BASE: envInt(2_000_000, 1000),
};

export interface IsolationConfig {
  /** Node's permission model inside the executor. */
  sandbox: boolean;
  memoryMb: number;
  /** Null when JOBS_ISOLATION=none. */
  isolation: Omit<OsSandboxSettings, 'memoryMb'> | null;
}

type IsolationEnv = { [K in keyof typeof isolationEnv]: z.infer<(typeof isolationEnv)[K]> };

export function isolationFromEnv(e: IsolationEnv): IsolationConfig {
  return {
    sandbox: e.JOBS_SANDBOX,
    memoryMb: e.JOBS_MEMORY_MB,
    isolation:
      e.JOBS_ISOLATION === 'none'
        ? null
        : {
            network: e.JOBS_NETWORK,
            maxProcesses: e.JOBS_MAX_PROCESSES,
            cpuSeconds: e.JOBS_CPU_SECONDS,
            diskMb: e.JOBS_DISK_MB,
            uidBase: e.JOBS_UID_BASE,
          },
  };
}
