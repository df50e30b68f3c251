import { FailureReason, JobStatus } from './job.schema';
import { LogLevel } from './jobconfig.schema';
import { z } from './zod';

/**
 * The public event: one CloudEvents 1.0 record (structured JSON mode) per job status transition,
 * keyed by job id. See docs/events.md.
 */
export const JobStatusData = z.object({
  jobId: z.string(),
  jobConfigId: z.string(),
  jobConfigName: z.string(),
  status: JobStatus,
  previousStatus: JobStatus.nullable(),
  sequence: z.number().int().min(1),
  attempt: z.number().int().min(1),
  reason: z.string().nullable(),
  returnCode: z.number().int().nullable(),
  submittedByUserId: z.string(),
  occurredAt: z.string(),
});
export type JobStatusData = z.infer<typeof JobStatusData>;

export const JOB_STATUS_EVENT_TYPE = 'im.job.status.v1';

export const JobStatusEvent = z.object({
  specversion: z.literal('1.0'),
  id: z.string(),
  source: z.string(),
  type: z.literal(JOB_STATUS_EVENT_TYPE),
  subject: z.string(),
  time: z.string(),
  datacontenttype: z.literal('application/json'),
  data: JobStatusData,
});
export type JobStatusEvent = z.infer<typeof JobStatusEvent>;

/** Internal: jobconfig asks a runner to execute one attempt of a job. */
export const JobRequested = z.object({
  jobId: z.string(),
  attempt: z.number().int().min(1),
  jobConfigId: z.string(),
  packagePrefix: z.string(),
  packageName: z.string(),
  entryPoint: z.string(),
  packageArtifactOverride: z.boolean(),
  logLevel: LogLevel,
  timeoutMinutes: z.number().int().min(0),
  /**
   * Resolved macros (configuration < run request). A secure macro's value is encrypted
   * (`enc:v1:<kid>:…`, SECRETS_ENCRYPTION_KEYS; plain text only from an older jobconfig): the runner
   * decrypts it and masks it in logs.
   */
  macros: z.array(z.object({ key: z.string(), value: z.string(), secure: z.boolean() })),
  logKey: z.string(),
  outPrefix: z.string(),
  requestedAt: z.string(),
});
export type JobRequested = z.infer<typeof JobRequested>;

/** Internal: a runner reports what happened to an attempt. jobconfig decides what becomes durable. */
export const JobProgress = z.object({
  jobId: z.string(),
  attempt: z.number().int().min(1),
  /**
   * INITIALIZING claims the attempt (the runner runs it only once jobconfig grants the lease);
   * RELEASED hands it back unfinished (the runner is shutting down): jobconfig re-queues it.
   */
  status: z.enum(['INITIALIZING', 'RUNNING', 'FINISHED', 'ERROR', 'FAILED', 'RELEASED']),
  reason: FailureReason.nullable().default(null),
  returnCode: z.number().int().nullable().default(null),
  currentStep: z.string().nullable().default(null),
  /** With RUNNING: the sha256 of the package bytes the attempt runs (kept at packageArchiveKey). */
  packageSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  runnerId: z.string(),
  occurredAt: z.string(),
});
export type JobProgress = z.infer<typeof JobProgress>;

/**
 * Internal: jobconfig's answer to a runner's claim (INITIALIZING progress). `granted` true: the runner
 * holds the attempt for `leaseMs` from the grant and keeps it by heartbeats; false: it must not run
 * it (another runner holds it, the attempt is over) or, for an attempt it runs, must stop at once.
 */
export const JobLease = z.object({
  jobId: z.string(),
  attempt: z.number().int().min(1),
  runnerId: z.string(),
  granted: z.boolean(),
  leaseMs: z.number().int().min(1),
  reason: z.string().nullable().default(null),
  occurredAt: z.string(),
});
export type JobLease = z.infer<typeof JobLease>;

/** Internal: a runner is alive and still runs these attempts (renews their leases). */
export const RunnerHeartbeat = z.object({
  runnerId: z.string(),
  jobs: z.array(z.object({ jobId: z.string(), attempt: z.number().int().min(1) })).max(1000),
  occurredAt: z.string(),
});
export type RunnerHeartbeat = z.infer<typeof RunnerHeartbeat>;

/** Internal: stop a job wherever it runs (every runner receives it). */
export const JobCancelRequested = z.object({
  jobId: z.string(),
  attempt: z.number().int().min(1),
  stoppedByUserId: z.string(),
  requestedAt: z.string(),
});
export type JobCancelRequested = z.infer<typeof JobCancelRequested>;

/** Internal: a configuration was created, changed or deleted (for projections in other services). */
export const JobConfigChanged = z.object({
  jobConfigId: z.string(),
  ownerId: z.string(),
  /** The owner's account (absent on records from before accounts: the default account). */
  accountId: z.string().optional(),
  name: z.string(),
  change: z.enum(['created', 'updated', 'deleted']),
  occurredAt: z.string(),
});
export type JobConfigChanged = z.infer<typeof JobConfigChanged>;

/** Internal: a file of a configuration was stored, replaced or removed. */
export const FileChanged = z.object({
  jobConfigId: z.string(),
  key: z.string(),
  change: z.enum(['stored', 'deleted']),
  size: z.number().int().nullable(),
  sha256: z.string().nullable(),
  occurredAt: z.string(),
});
export type FileChanged = z.infer<typeof FileChanged>;

/**
 * Internal: a user was created or changed (auth publishes the user's state after each change, so a
 * consumer keeps a projection by applying the latest record per user). jobconfig uses it to cancel the
 * waiting jobs of a deactivated user and to refuse their runs and their tokens.
 */
export const UserChanged = z.object({
  userId: z.string(),
  accountId: z.string(),
  name: z.string(),
  active: z.boolean(),
  roles: z.array(z.string()),
  change: z.enum(['created', 'updated']),
  /** Who made the change (an administrator), for the records it causes. */
  changedBy: z.object({ id: z.string(), name: z.string() }).nullable(),
  occurredAt: z.string(),
});
export type UserChanged = z.infer<typeof UserChanged>;
