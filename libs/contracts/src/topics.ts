import { AuditEvent } from './audit.schema';
import { z } from './zod';
import {
  FileChanged,
  JobCancelRequested,
  JobConfigChanged,
  JobLease,
  JobProgress,
  JobRequested,
  JobStatusEvent,
  RunnerHeartbeat,
  UserChanged,
} from './events.schema';

/**
 * The typed topic catalog: every topic the platform uses, its schema and how its records are keyed.
 * Topic names get a configurable prefix (default `im.`); see {@link topicName}.
 */
export const topicCatalog = {
  'job.status': { schema: JobStatusEvent, key: (v: JobStatusEvent) => v.subject, public: true },
  'job.requests': { schema: JobRequested, key: (v: JobRequested) => v.jobId, public: false },
  'job.progress': { schema: JobProgress, key: (v: JobProgress) => v.jobId, public: false },
  'job.cancel': { schema: JobCancelRequested, key: (v: JobCancelRequested) => v.jobId, public: false },
  'job.leases': { schema: JobLease, key: (v: JobLease) => v.jobId, public: false },
  'job.heartbeats': { schema: RunnerHeartbeat, key: (v: RunnerHeartbeat) => v.runnerId, public: false },
  'jobconfig.changes': {
    schema: JobConfigChanged,
    key: (v: JobConfigChanged) => v.jobConfigId,
    public: false,
  },
  'file.changes': { schema: FileChanged, key: (v: FileChanged) => v.jobConfigId, public: false },
  'user.changes': { schema: UserChanged, key: (v: UserChanged) => v.userId, public: false },
  'audit.events': { schema: AuditEvent, key: (v: AuditEvent) => v.id, public: false },
} as const;

export type TopicId = keyof typeof topicCatalog;
export type TopicMessage<T extends TopicId> = z.infer<(typeof topicCatalog)[T]['schema']>;

export const DEFAULT_TOPIC_PREFIX = 'im.';

export function topicName(id: TopicId, prefix: string = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}${id}`;
}
