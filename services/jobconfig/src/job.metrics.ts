import { JOB_BUCKETS, counter, histogram } from '@im/observability';

/** Prometheus metrics of the job state machine (docs/observability.md). */
export const jobMetrics = {
  transitions: counter('im_jobs_total', 'Jobs that entered each status (transitions applied).', ['status']),
  duration: histogram(
    'im_job_duration_seconds',
    'Jobs that ended: from the first claim (INITIALIZING) to the end, by final status.',
    ['status'],
    JOB_BUCKETS,
  ),
  queued: histogram(
    'im_job_queue_seconds',
    'Queue lag: time a job attempt waited QUEUED before a runner claimed it (INITIALIZING).',
    [],
    JOB_BUCKETS,
  ),
  leaseExpired: counter(
    'im_lease_expired_total',
    'Jobs whose runner stopped heartbeating (lease expired): re-queued or failed runner-lost.',
  ),
};
