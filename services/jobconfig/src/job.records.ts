import { JOB_STATUS_EVENT_TYPE, type JobStatus, type JobStatusEvent } from '@im/contracts';
import type { OutgoingRecord } from '@im/messaging';
import type { JobRecord } from './job.repository';

// The records the job state machine writes to its outbox (published once the transaction commits).

/** The public event of a transition to `job.status` (from `previous`; null for a new job). */
export function statusRecord(job: JobRecord, previous: JobStatus | null, now: number): OutgoingRecord {
  const occurredAt = new Date(job.updatedAt).toISOString();
  const event: JobStatusEvent = {
    specversion: '1.0',
    id: `${job.id}:${job.eventSeq}`,
    source: '/im/jobconfig',
    type: JOB_STATUS_EVENT_TYPE,
    subject: job.id,
    time: new Date(now).toISOString(),
    datacontenttype: 'application/json',
    data: {
      jobId: job.id,
      jobConfigId: job.jobConfigId,
      jobConfigName: job.jobConfigName,
      status: job.status,
      previousStatus: previous,
      sequence: job.eventSeq,
      attempt: job.attempt,
      reason: job.reason,
      returnCode: job.returnCode,
      submittedByUserId: job.submittedBy.id,
      occurredAt,
    },
  };
  return {
    topic: 'job.status',
    message: event,
    headers: { 'content-type': 'application/cloudevents+json' },
  };
}

/** Tells every runner to stop the attempt. */
export function cancelRecord(job: JobRecord, byUserId: string, now: number): OutgoingRecord {
  return {
    topic: 'job.cancel',
    message: {
      jobId: job.id,
      attempt: job.attempt,
      stoppedByUserId: byUserId,
      requestedAt: new Date(now).toISOString(),
    },
  };
}

/** jobconfig's answer to a claim, or a revocation (granted false). */
export function leaseRecord(
  leaseMs: number,
  now: number,
  jobId: string,
  attempt: number,
  runnerId: string,
  granted: boolean,
  reason: string | null,
): OutgoingRecord {
  return {
    topic: 'job.leases',
    message: {
      jobId,
      attempt,
      runnerId,
      granted,
      leaseMs: leaseMs,
      reason,
      occurredAt: new Date(now).toISOString(),
    },
  };
}
