import { IsoDateTime, ListQuery, listEnvelope, ResourceRef, Uuid } from './common.schema';
import { FileKey, LogLevel, MacroInput, Tags } from './jobconfig.schema';
import { z } from './zod';

export const JobStatus = z.enum([
  'SEQUENCED',
  'QUEUED',
  'INITIALIZING',
  'RUNNING',
  'FINISHED',
  'ERROR',
  'FAILED',
  'CANCELLED',
]);
export type JobStatus = z.infer<typeof JobStatus>;

export const TERMINAL_STATUSES: readonly JobStatus[] = ['FINISHED', 'ERROR', 'FAILED', 'CANCELLED'];

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** The only transitions the platform applies (the contract's state machine). */
export const JOB_TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  SEQUENCED: ['QUEUED', 'CANCELLED'],
  QUEUED: ['INITIALIZING', 'CANCELLED'],
  INITIALIZING: ['RUNNING', 'FAILED'],
  RUNNING: ['FINISHED', 'ERROR', 'FAILED'],
  FINISHED: [],
  ERROR: [],
  FAILED: [],
  CANCELLED: [],
};

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return JOB_TRANSITIONS[from].includes(to);
}

/**
 * The one transition outside the table: a job whose runner was lost (or handed it back while shutting
 * down) goes back to QUEUED as a new attempt, `attempt` + 1, `previousStatus` INITIALIZING or RUNNING.
 */
export function canRequeue(from: JobStatus): boolean {
  return from === 'INITIALIZING' || from === 'RUNNING';
}

/** Why the platform (not the package) failed a job. */
export const FailureReason = z.enum([
  'stopped-by-user',
  'timeout',
  'runner-lost',
  'package-unusable',
  'resource-limit',
  'internal-error',
  // The configuration's package or entry point changed since its secure macros were set, by someone
  // who may not read them: they are withheld and nothing ran (ADR 0016).
  'secrets-withheld',
]);
export type FailureReason = z.infer<typeof FailureReason>;

export const RunRequest = z
  .object({
    runtimeConfig: z
      .object({ macros: z.array(MacroInput).max(500).optional(), logLevel: LogLevel.optional() })
      .optional(),
    tags: Tags.optional(),
  })
  .openapi('RunRequest');
export type RunRequest = z.infer<typeof RunRequest>;

export const Job = z
  .object({
    id: Uuid,
    href: z.string(),
    status: JobStatus,
    reason: z.string().nullable(),
    scheduled: IsoDateTime,
    started: IsoDateTime.nullable(),
    finished: IsoDateTime.nullable(),
    duration: z.number().int().nullable().openapi({ description: 'Milliseconds from start to finish.' }),
    returnCode: z.number().int().nullable(),
    attempt: z.number().int(),
    currentStep: z.string().nullable(),
    stoppedByUser: ResourceRef.nullable(),
    finalDestinationId: z.string(),
    packageName: z.string(),
    entryPoint: z.string(),
    jobConfig: ResourceRef,
    submittedByUser: ResourceRef,
    jobLog: z.object({ href: z.string() }),
    tags: z.array(z.string()),
  })
  .openapi('Job');
export type Job = z.infer<typeof Job>;

export const JobList = listEnvelope(Job, 'JobList');

/**
 * Where a file lies in a job's output directory: one name, or names joined by `/` for a file in a
 * subdirectory (each name follows the file key rules, so none is `.` or `..`). At most 1024 bytes.
 */
export const JobOutputPath = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => Buffer.byteLength(s, 'utf8') <= 1024, 'must be at most 1024 bytes')
  .refine(
    (s) => s.split('/').every((name) => FileKey.safeParse(name).success),
    'must be names joined by "/", none of them empty, "." or "..", nor with a backslash or control characters',
  )
  .openapi({ example: 'reports/summary.json' });

export const JobOutputFile = z
  .object({
    /** The path in the output directory (`reports/summary.json`). */
    name: z.string(),
    href: z.string(),
    metadata: z.object({ size: z.number().int(), lastModified: IsoDateTime }),
  })
  .openapi('JobOutputFile');
export type JobOutputFile = z.infer<typeof JobOutputFile>;
export const JobOutputFileList = listEnvelope(JobOutputFile, 'JobOutputFileList');

export const JobListQuery = ListQuery.extend({
  jobconfigid: z
    .string()
    .regex(/^[0-9]+$/, 'must be a numeric id')
    .optional(),
  status: z
    .string()
    .refine((s) => s.split(',').every((x) => JobStatus.safeParse(x.trim().toUpperCase()).success), {
      message: `must be a comma list of ${JobStatus.options.join(', ')}`,
    })
    .optional(),
  startdate: IsoDateTime.pipe(z.iso.datetime({ offset: true })).optional(),
  enddate: IsoDateTime.pipe(z.iso.datetime({ offset: true })).optional(),
});
export type JobListQuery = z.infer<typeof JobListQuery>;

export const JobIdParams = z.object({ id: Uuid });

/** GET /api/jobs/events: the caller's job status changes as server-sent events. */
export const JobEventsQuery = z.object({
  maxSeconds: z.coerce
    .number()
    .int()
    .min(1)
    .max(3600)
    .default(3600)
    .openapi({ description: 'End the stream after this many seconds (EventSource reconnects by itself).' }),
  access_token: z.string().optional().openapi({
    description:
      'The access token, for clients that cannot set the Authorization header (EventSource); the gateway moves it into the header and drops it from the URL.',
  }),
});

export const LogQuery = z.object({
  follow: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true'),
});
