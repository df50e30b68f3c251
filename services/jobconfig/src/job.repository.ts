import type { FailureReason, JobStatus, LogLevel } from '@im/contracts';
import type { SecretsKeyring } from '@im/config';
import { fetchPage, type Knex, type PageRequest, type PageResult } from '@im/db';
import { sealMacros } from './job-config.repository';

export interface RunMacro {
  key: string;
  /** A secure macro's value is stored encrypted (`enc:v1:…`). */
  value: string;
  secure: boolean;
}

export interface JobRecord {
  id: string;
  jobConfigId: string;
  jobConfigName: string;
  /** The configuration owner's account (tenant). */
  accountId: string;
  ownerId: string;
  status: JobStatus;
  reason: FailureReason | null;
  attempt: number;
  returnCode: number | null;
  currentStep: string | null;
  packageName: string;
  /** The sha256 of the package bytes the last started attempt ran (null before one started). */
  packageSha256?: string | null;
  entryPoint: string;
  packageArtifactOverride: boolean;
  logLevel: LogLevel;
  timeoutMinutes: number;
  runMacros: RunMacro[];
  tags: string[];
  submittedBy: { id: string; name: string };
  stoppedBy: { id: string; name: string } | null;
  scheduledAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  eventSeq: number;
  updatedAt: number;
  /** The runner holding the current attempt (set when its claim is granted). */
  runnerId: string | null;
  /** When the runner's lease on the attempt runs out unless a heartbeat renews it (ms). */
  leaseExpiresAt: number | null;
  /** Attempts a lost runner may cost (the configuration's, when the job was submitted). */
  maxAttempts: number;
  /** Attempts handed back by runners shutting down (not counted against maxAttempts). */
  handovers: number;
}

interface Row {
  id: string;
  job_config_id: number;
  job_config_name: string;
  account_id: string;
  owner_id: string;
  status: string;
  reason: string | null;
  attempt: number;
  return_code: number | null;
  current_step: string | null;
  package_sha256?: string | null;
  package_name: string;
  entry_point: string;
  package_artifact_override: boolean | number;
  log_level: string;
  timeout_minutes: number;
  run_macros: string;
  tags: string;
  submitted_by_id: string;
  submitted_by_name: string;
  stopped_by_id: string | null;
  stopped_by_name: string | null;
  scheduled_at: number | string;
  started_at: number | string | null;
  finished_at: number | string | null;
  event_seq: number;
  updated_at: number | string;
  runner_id: string | null;
  lease_expires_at: number | string | null;
  max_attempts: number;
  handovers: number;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

function toRecord(r: Row): JobRecord {
  return {
    id: r.id,
    jobConfigId: String(r.job_config_id),
    jobConfigName: r.job_config_name,
    accountId: String(r.account_id),
    ownerId: r.owner_id,
    status: r.status as JobStatus,
    reason: r.reason as FailureReason | null,
    attempt: r.attempt,
    returnCode: r.return_code,
    currentStep: r.current_step,
    packageSha256: r.package_sha256 ?? null,
    packageName: r.package_name,
    entryPoint: r.entry_point,
    packageArtifactOverride: Boolean(r.package_artifact_override),
    logLevel: r.log_level as LogLevel,
    timeoutMinutes: r.timeout_minutes,
    runMacros: JSON.parse(r.run_macros) as RunMacro[],
    tags: JSON.parse(r.tags) as string[],
    submittedBy: { id: r.submitted_by_id, name: r.submitted_by_name },
    stoppedBy: r.stopped_by_id ? { id: r.stopped_by_id, name: r.stopped_by_name ?? '' } : null,
    scheduledAt: Number(r.scheduled_at),
    startedAt: num(r.started_at),
    finishedAt: num(r.finished_at),
    eventSeq: r.event_seq,
    updatedAt: Number(r.updated_at),
    runnerId: r.runner_id,
    leaseExpiresAt: num(r.lease_expires_at),
    maxAttempts: r.max_attempts,
    handovers: r.handovers,
  };
}

export interface JobFilter {
  accountId?: string;
  ownerId?: string;
  jobConfigId?: string;
  statuses?: JobStatus[];
  /** Scheduled at or after (ms). */
  from?: number;
  /** Scheduled at or before (ms). */
  to?: number;
}

/** Fields a transition may set besides the status. */
export interface TransitionPatch {
  reason?: FailureReason | null;
  returnCode?: number | null;
  currentStep?: string | null;
  packageSha256?: string | null;
  startedAt?: number;
  finishedAt?: number;
  stoppedBy?: { id: string; name: string };
  /** A new attempt (re-queued): the runner and its lease are cleared with it. */
  attempt?: number;
  handovers?: number;
  runnerId?: string | null;
  leaseExpiresAt?: number | null;
}

export const JOB_SORTABLE = {
  scheduled: 'seq',
  started: 'started_at',
  finished: 'finished_at',
  status: 'status',
  id: 'id',
  jobConfig: 'job_config_id',
};

export class JobRepository {
  /** `secrets`: the keyring secure run-request macro values are encrypted with (the module always gives one). */
  constructor(
    private readonly db: Knex,
    private readonly secrets?: SecretsKeyring,
  ) {}

  /** Runs `fn` in one database transaction (commits when it resolves, rolls back when it throws). */
  transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  async insert(job: Omit<JobRecord, 'eventSeq'>, trx: Knex = this.db): Promise<void> {
    await trx('jobs').insert({
      id: job.id,
      job_config_id: Number(job.jobConfigId),
      job_config_name: job.jobConfigName,
      account_id: job.accountId,
      owner_id: job.ownerId,
      status: job.status,
      reason: job.reason,
      attempt: job.attempt,
      return_code: job.returnCode,
      current_step: job.currentStep,
      package_name: job.packageName,
      entry_point: job.entryPoint,
      package_artifact_override: job.packageArtifactOverride,
      log_level: job.logLevel,
      timeout_minutes: job.timeoutMinutes,
      run_macros: JSON.stringify(sealMacros(job.runMacros, this.secrets)),
      tags: JSON.stringify(job.tags),
      submitted_by_id: job.submittedBy.id,
      submitted_by_name: job.submittedBy.name,
      scheduled_at: job.scheduledAt,
      event_seq: 1,
      updated_at: job.updatedAt,
      max_attempts: job.maxAttempts,
    });
  }

  async findById(id: string, trx: Knex = this.db): Promise<JobRecord | undefined> {
    const row = (await trx('jobs').where({ id }).first()) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /**
   * Compare-and-set: moves the job from `from` to `to` only if it is still in `from` (and, when
   * given, still on `attempt`), bumping the event sequence. Returns the new row, or undefined when
   * another writer moved it first.
   */
  async transition(
    id: string,
    from: JobStatus,
    to: JobStatus,
    patch: TransitionPatch,
    now: number,
    trx: Knex = this.db,
    attempt?: number,
  ): Promise<JobRecord | undefined> {
    const cols: Record<string, unknown> = {
      status: to,
      updated_at: now,
      event_seq: trx.raw('event_seq + 1'),
    };
    if (patch.reason !== undefined) cols.reason = patch.reason;
    if (patch.returnCode !== undefined) cols.return_code = patch.returnCode;
    if (patch.currentStep !== undefined) cols.current_step = patch.currentStep;
    if (patch.packageSha256 !== undefined) cols.package_sha256 = patch.packageSha256;
    if (patch.startedAt !== undefined) cols.started_at = patch.startedAt;
    if (patch.finishedAt !== undefined) cols.finished_at = patch.finishedAt;
    if (patch.stoppedBy) {
      cols.stopped_by_id = patch.stoppedBy.id;
      cols.stopped_by_name = patch.stoppedBy.name;
    }
    if (patch.attempt !== undefined) cols.attempt = patch.attempt;
    if (patch.handovers !== undefined) cols.handovers = patch.handovers;
    if (patch.runnerId !== undefined) cols.runner_id = patch.runnerId;
    if (patch.leaseExpiresAt !== undefined) cols.lease_expires_at = patch.leaseExpiresAt;
    const q = trx('jobs').where({ id, status: from });
    if (attempt !== undefined) q.andWhere({ attempt });
    const n = await q.update(cols);
    return n === 1 ? this.findById(id, trx) : undefined;
  }

  /** Records who asked to stop a running job, without changing its status. */
  async markStopRequested(
    id: string,
    by: { id: string; name: string },
    now: number,
    trx: Knex = this.db,
  ): Promise<void> {
    await trx('jobs')
      .where({ id })
      .whereNull('stopped_by_id')
      .update({ stopped_by_id: by.id, stopped_by_name: by.name, updated_at: now });
  }

  /**
   * Renews the leases `runnerId` holds on these attempts (those it still holds: same attempt, same
   * runner, not ended). Returns the attempts it renewed, as `jobId#attempt`.
   */
  async renewLeases(
    runnerId: string,
    jobs: readonly { jobId: string; attempt: number }[],
    until: number,
  ): Promise<Set<string>> {
    const renewed = new Set<string>();
    if (jobs.length === 0) return renewed;
    await this.db.transaction(async (trx) => {
      for (const j of jobs) {
        const n = await trx('jobs')
          .where({ id: j.jobId, attempt: j.attempt, runner_id: runnerId })
          .whereIn('status', ['INITIALIZING', 'RUNNING'])
          .update({ lease_expires_at: until });
        if (n === 1) renewed.add(`${j.jobId}#${j.attempt}`);
      }
    });
    return renewed;
  }

  /**
   * Every lease running out before `until` is moved to `until` (after an outage of the event bus),
   * except those of the runners in `except`.
   */
  async extendLeases(until: number, except: readonly string[] = []): Promise<number> {
    const q = this.db('jobs')
      .whereIn('status', ['INITIALIZING', 'RUNNING'])
      .where('lease_expires_at', '<', until);
    if (except.length > 0) q.whereNotIn('runner_id', except);
    return q.update({ lease_expires_at: until });
  }

  /** The runners holding a lease now. */
  async leaseHolders(): Promise<string[]> {
    const rows = (await this.db('jobs')
      .distinct('runner_id')
      .whereIn('status', ['INITIALIZING', 'RUNNING'])
      .whereNotNull('runner_id')) as { runner_id: string }[];
    return rows.map((r) => r.runner_id);
  }

  /** Attempts whose runner's lease ran out before `now`, oldest first. */
  async expiredLeases(now: number, limit = 100): Promise<JobRecord[]> {
    const rows = (await this.db('jobs')
      .whereIn('status', ['INITIALIZING', 'RUNNING'])
      .where('lease_expires_at', '<', now)
      .orderBy('lease_expires_at', 'asc')
      .limit(limit)) as Row[];
    return rows.map(toRecord);
  }

  async setCurrentStep(id: string, attempt: number, step: string | null, now: number): Promise<void> {
    await this.db('jobs')
      .where({ id, attempt, status: 'RUNNING' })
      .update({ current_step: step, updated_at: now });
  }

  private filtered(f: JobFilter): Knex.QueryBuilder {
    const q = this.db('jobs').select('*');
    if (f.accountId !== undefined) q.where({ account_id: f.accountId });
    if (f.ownerId !== undefined) q.where({ owner_id: f.ownerId });
    if (f.jobConfigId !== undefined) q.where({ job_config_id: Number(f.jobConfigId) });
    if (f.statuses && f.statuses.length > 0) q.whereIn('status', f.statuses);
    if (f.from !== undefined) q.where('scheduled_at', '>=', f.from);
    if (f.to !== undefined) q.where('scheduled_at', '<=', f.to);
    return q;
  }

  async page(f: JobFilter, req: PageRequest): Promise<PageResult<JobRecord>> {
    // Newest first unless the client asks otherwise.
    const r = req.sortby ? req : { ...req, sortby: 'scheduled', direction: 'desc' };
    const res = await fetchPage<Row>(this.filtered(f), r, JOB_SORTABLE, 'seq');
    return { rows: res.rows.map(toRecord), total: res.total };
  }

  async list(f: JobFilter): Promise<JobRecord[]> {
    const rows = (await this.filtered(f).orderBy('seq', 'asc')) as Row[];
    return rows.map(toRecord);
  }

  /** Jobs not finished yet, by status (the `im_jobs` gauge, read when Prometheus scrapes). */
  async countUnfinishedByStatus(): Promise<Record<string, number>> {
    const rows: { status: string; n: number | string }[] = await this.db('jobs')
      .whereIn('status', ['SEQUENCED', 'QUEUED', 'INITIALIZING', 'RUNNING'])
      .select('status')
      .count({ n: '*' })
      .groupBy('status');
    const out: Record<string, number> = { SEQUENCED: 0, QUEUED: 0, INITIALIZING: 0, RUNNING: 0 };
    for (const r of rows) out[r.status] = Number(r.n);
    return out;
  }

  async countUnfinished(jobConfigId: string, trx: Knex = this.db): Promise<number> {
    const row = (await trx('jobs')
      .where({ job_config_id: Number(jobConfigId) })
      .whereIn('status', ['SEQUENCED', 'QUEUED', 'INITIALIZING', 'RUNNING'])
      .count({ n: '*' })
      .first()) as { n: number | string } | undefined;
    return Number(row?.n ?? 0);
  }

  async deleteForConfig(jobConfigId: string, trx: Knex = this.db): Promise<string[]> {
    const rows: { id: string }[] = await trx('jobs')
      .where({ job_config_id: Number(jobConfigId) })
      .select('id');
    const ids = rows.map((r) => r.id);
    await trx('jobs')
      .where({ job_config_id: Number(jobConfigId) })
      .delete();
    return ids;
  }
}
