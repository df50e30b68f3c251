import { createServiceApp } from '@im/http-kit';
import type { Logger } from '@im/logging';
import type { EventBus } from '@im/messaging';
import type { ObjectStorage } from '@im/storage';
import type { Express } from 'express';
import { JobRunner, type JobRunnerDeps } from './runner';

export type JobRunnerModuleDeps = JobRunnerDeps;

export interface JobRunnerModule {
  runner: JobRunner;
  /** Subscribes to job requests and cancels. */
  start(): Promise<void>;
  /** Stops intake, drains running jobs for up to `graceMs`, then stops them and hands them back (re-queued). */
  stop(graceMs?: number): Promise<void>;
}

export function createJobRunnerModule(deps: JobRunnerModuleDeps): JobRunnerModule {
  const runner = new JobRunner(deps);
  return {
    runner,
    start: () => runner.start(),
    stop: (graceMs = 0) => runner.stop(graceMs),
  };
}

export interface JobRunnerAppDeps {
  logger: Logger;
  storage: ObjectStorage;
  /** The bus the runner takes requests from (readiness asks it); none: not checked. */
  bus?: EventBus;
  /** True once shutdown began: readiness turns 503 first. */
  isDraining?: () => boolean;
  /**
   * True once the runner consumes job requests (its sandbox is set up, its subscriptions are in
   * place): until then readiness is 503, so a rollout or a test does not count on a runner that has
   * not joined its consumer group yet. Default: always true.
   */
  isStarted?: () => boolean;
  /**
   * Bearer token of `/metrics` (METRICS_TOKEN; none: 401 to everybody). The runner holds no internal
   * token: it calls no service and serves no API, and jobs run beside it.
   */
  metricsToken?: string | undefined;
}

/**
 * The runner has no API: only /healthz (alive), /readyz (started, storage answers, not draining) and
 * /metrics (behind its token).
 */
export function createApp(deps: JobRunnerAppDeps): Express {
  return createServiceApp({
    logger: deps.logger,
    metricsToken: deps.metricsToken,
    readiness: {
      checks: {
        ...(deps.bus ? { kafka: () => deps.bus?.ping() } : {}),
        storage: () => deps.storage.ping(),
      },
      ...(deps.isStarted ? { ready: deps.isStarted } : {}),
      ...(deps.isDraining ? { isDraining: deps.isDraining } : {}),
    },
  });
}
