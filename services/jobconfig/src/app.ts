import type { SecretsKeyring } from '@im/config';
import type { FileCatalogPort } from '@im/contracts';
import { isDatabaseUnavailable, migrateLatest, type Knex } from '@im/db';
import {
  applyUserState,
  Auditor,
  auditTrail,
  createServiceApp,
  type EndpointTokens,
  type TrustProxy,
} from '@im/http-kit';
import type { Logger } from '@im/logging';
import { sampledGauge } from '@im/observability';
import type { EventBus, Subscription } from '@im/messaging';
import type { ObjectStorage } from '@im/storage';
import express, { type Express, type RequestHandler, type Router } from 'express';
import { JOBCONFIG_AUDIT_RULES } from './audit.rules';
import { JobConfigRepository } from './job-config.repository';
import { jobConfigRoutes } from './job-config.routes';
import { JobConfigService } from './job-config.service';
import { jobconfigMigrations } from './jobconfig.migrations';
import { JobEventStreams } from './job-events';
import { JobRepository } from './job.repository';
import { jobRoutes } from './job.routes';
import { JobService } from './job.service';
import { macroRoutes } from './macro.routes';
import { MacroService } from './macro.service';
import { LeaseReaper } from './lease-reaper';
import { Outbox } from './outbox';
import { ScheduleRepository } from './schedule.repository';
import { secureStoredSecrets } from './secrets-at-rest';
import { bindLegacySecureValues, PackageStates } from './secret-binding';
import { scheduleRoutes } from './schedule.routes';
import { Scheduler } from './schedule.scheduler';
import { ScheduleService } from './schedule.service';
import { UserStateRepository } from './user-state.repository';

/** A deactivation older than this (replayed) no longer cancels the user's waiting jobs. */
const USER_CHANGE_CANCELS_WITHIN_MS = 60 * 60_000;

/** Retry of the start-up encryption of stored secure values when the database was unavailable, ms. */
const SEAL_RETRY_MS = 5000;

/** Partitions of job.progress handled at once by one jobconfig instance. */
const PROGRESS_CONCURRENCY = 8;

export interface JobConfigDeps {
  db: Knex;
  dbSchema?: string;
  logger: Logger;
  bus: EventBus;
  /**
   * Read access to job logs and output files; the package versions secure values are bound to; the
   * log of a job jobconfig ends itself (secure values withheld).
   */
  storage: ObjectStorage;
  files: FileCatalogPort;
  authenticate: RequestHandler;
  publicBaseUrl?: string;
  /** Consumer group for runner progress (one per deployment). */
  progressGroupId?: string;
  followPollMs?: number;
  /** The schedule firing loop (SCHEDULER_ENABLED, SCHEDULER_POLL_MS); on by default, polling every second. */
  scheduler?: { enabled?: boolean; pollMs?: number };
  /** How long a runner holds an attempt without a heartbeat (JOBS_LEASE_MS). Default 30 s. */
  leaseMs?: number;
  /**
   * The keyring of secure macro values (SECRETS_ENCRYPTION_KEYS): they are stored and sent on
   * job.requests encrypted with its first key; start() brings stored values to that key.
   */
  secrets: SecretsKeyring;
}

export interface JobConfigModule {
  configs: JobConfigService;
  jobs: JobService;
  macros: MacroService;
  schedules: ScheduleService;
  /** Fires schedules; started by start(), stopped first by stop() (or alone in 'stop-intake'). */
  scheduler: Scheduler;
  router: Router;
  migrate(): Promise<string[]>;
  /** Publishes what the job state machine writes to its outbox. */
  outbox: Outbox;
  /** Starts the outbox relay and consuming runner progress. */
  start(): Promise<void>;
  /** Stops consuming, then flushes the outbox. */
  stop(): Promise<void>;
}

export function createJobConfigModule(deps: JobConfigDeps): JobConfigModule {
  const logger = deps.logger.child({ component: 'jobconfig' });
  const jobRepo = new JobRepository(deps.db, deps.secrets);
  const configRepo = new JobConfigRepository(deps.db, deps.secrets);
  const userStates = new UserStateRepository(deps.db);
  const configs = new JobConfigService(
    configRepo,
    jobRepo,
    deps.files,
    deps.bus,
    logger,
    Date.now,
    userStates,
    new PackageStates(deps.storage),
  );
  // A still-valid access token is judged by its user's state as user.changes last said it: a
  // deactivated user's is refused, a demoted user's loses the role.
  const authenticate = applyUserState(deps.authenticate, (id) => userStates.get(id));
  const outbox = new Outbox(deps.db, deps.bus, logger.child({ component: 'outbox' }));
  const jobs = new JobService(jobRepo, configs, deps.files, outbox, logger, Date.now, {
    ...(deps.leaseMs ? { leaseMs: deps.leaseMs } : {}),
    secrets: deps.secrets,
    storage: deps.storage,
  });
  const reaper = new LeaseReaper(jobs, logger.child({ component: 'lease-reaper' }), {
    busCheck: () => deps.bus.ping(),
  });
  const macros = new MacroService(configRepo, configs);
  const scheduleRepo = new ScheduleRepository(deps.db);
  const schedules = new ScheduleService(scheduleRepo, configs);
  const scheduler = new Scheduler(scheduleRepo, configs, jobs, logger.child({ component: 'scheduler' }), {
    ...(deps.scheduler?.pollMs ? { pollMs: deps.scheduler.pollMs } : {}),
  });
  const opt = deps.publicBaseUrl ? { publicBaseUrl: deps.publicBaseUrl } : {};
  const router = express.Router();
  // Changes to configurations, schedules, macros and jobs go to the audit trail (best effort).
  const auditor = new Auditor((e) => deps.bus.publish('audit.events', e), logger, 'jobconfig');
  router.use(auditTrail(auditor, JOBCONFIG_AUDIT_RULES));
  router.use(jobConfigRoutes({ configs, schedules, authenticate, ...opt }));
  router.use(macroRoutes({ macros, authenticate, ...opt }));
  router.use(scheduleRoutes({ schedules, authenticate, ...opt }));
  // Before jobRoutes: /api/jobs/events is not a job id.
  const jobEvents = new JobEventStreams(jobs, logger.child({ component: 'job-events' }));
  router.use(jobEvents.routes(authenticate, deps.publicBaseUrl));
  router.use(
    jobRoutes({
      jobs,
      storage: deps.storage,
      authenticate,
      ...opt,
      ...(deps.followPollMs ? { followPollMs: deps.followPollMs } : {}),
    }),
  );
  let sub: Subscription | undefined;
  let heartbeats: Subscription | undefined;
  let gauges: (() => void)[] = [];
  let userChanges: Subscription | undefined;
  let sealing = false;
  let sealRetry: NodeJS.Timeout | undefined;
  return {
    configs,
    jobs,
    macros,
    schedules,
    scheduler,
    outbox,
    router,
    migrate: () => migrateLatest(deps.db, jobconfigMigrations, deps.dbSchema),
    async start() {
      // Before anything is published: no secure value stays in plain text (or under a retired key).
      // A database outage at start-up does not stop the service: it tries again until it succeeds.
      sealing = true;
      const sealLogger = logger.child({ component: 'secrets' });
      const seal = async (): Promise<void> => {
        try {
          await secureStoredSecrets(deps.db, deps.secrets, sealLogger);
          // Values stored before they were bound to code: bound to what their configuration runs now.
          const bound = await bindLegacySecureValues(configRepo, configs, Date.now());
          if (bound > 0)
            sealLogger.info(
              { configs: bound },
              'bound the secure values stored before ADR 0016 to their code',
            );
        } catch (err) {
          if (!sealing) return;
          sealLogger.warn(
            { err },
            'could not encrypt the stored secure macro values yet; trying again in 5 s',
          );
          sealRetry = setTimeout(() => void seal(), SEAL_RETRY_MS);
          sealRetry.unref();
        }
      };
      await seal();
      outbox.start();
      sub = await deps.bus.subscribe({
        groupId: deps.progressGroupId ?? 'jobconfig.progress',
        topic: 'job.progress',
        // Partitions in parallel (each in order): one job's reports stay ordered, jobs do not wait on each other.
        concurrency: PROGRESS_CONCURRENCY,
        handler: (p) => jobs.onProgress(p),
        // A database outage delays reports; they never go to the dead-letter topic for it.
        isTransient: isDatabaseUnavailable,
      });
      heartbeats = await deps.bus.subscribe({
        groupId: 'jobconfig.heartbeats',
        topic: 'job.heartbeats',
        concurrency: PROGRESS_CONCURRENCY,
        handler: (hb) => jobs.onHeartbeat(hb),
        isTransient: isDatabaseUnavailable,
      });
      // Deactivated users: their tokens and runs are refused, their waiting jobs cancelled; demoted
      // users' tokens lose the role.
      userChanges = await deps.bus.subscribe({
        groupId: 'jobconfig.user-changes',
        topic: 'user.changes',
        // A new group reads the retained history: the projection misses no deactivation.
        fromBeginning: true,
        handler: async (u) => {
          const at = Date.parse(u.occurredAt) || Date.now();
          await userStates.apply({
            userId: u.userId,
            accountId: u.accountId,
            active: u.active,
            roles: u.roles,
            at,
          });
          // A record replayed from long ago (a new group) only updates the projection: the user may
          // have been activated again since, and their waiting jobs are not its business.
          if (!u.active && Date.now() - at < USER_CHANGE_CANCELS_WITHIN_MS)
            await jobs.cancelWaitingJobsOf(u.userId, u.changedBy ?? { id: u.userId, name: u.name });
        },
      });
      reaper.start();
      if (deps.scheduler?.enabled ?? true) scheduler.start();
      // Read when Prometheus scrapes: one grouped count and one count, no timer.
      gauges = [
        sampledGauge('im_jobs', 'Jobs not finished yet, by status.', 'status', () =>
          jobRepo.countUnfinishedByStatus(),
        ),
        sampledGauge('im_outbox_backlog', 'Outbox records waiting to be published.', undefined, async () => ({
          value: await outbox.backlog(),
        })),
      ];
    },
    async stop() {
      sealing = false;
      clearTimeout(sealRetry);
      jobEvents.close();
      for (const unregister of gauges.splice(0)) unregister();
      await scheduler.stop();
      reaper.stop();
      await Promise.all([sub?.close(), heartbeats?.close(), userChanges?.close()]);
      await outbox.stop();
    },
  };
}

export function createApp(
  deps: JobConfigDeps & { isDraining?: () => boolean; trustProxy?: TrustProxy; endpoints?: EndpointTokens },
): {
  app: Express;
  module: JobConfigModule;
} {
  const module = createJobConfigModule(deps);
  const app = createServiceApp(
    {
      logger: deps.logger,
      trustProxy: deps.trustProxy ?? false,
      ...deps.endpoints,
      readiness: {
        checks: { database: () => deps.db.raw('select 1'), kafka: () => deps.bus.ping() },
        ...(deps.isDraining ? { isDraining: deps.isDraining } : {}),
      },
    },
    module.router,
  );
  return { app, module };
}

export { jobconfigMigrations } from './jobconfig.migrations';
export { JobConfigService } from './job-config.service';
export { JobService } from './job.service';
export { MacroService } from './macro.service';
