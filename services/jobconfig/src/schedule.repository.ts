import type { MisfirePolicy, ScheduleType } from '@im/contracts';
import type { Knex } from '@im/db';
import type { ScheduleSpec } from './schedule.timeline';

/** A configuration's schedule as stored. Times are epoch milliseconds. */
export interface ScheduleRecord extends ScheduleSpec {
  jobConfigId: string;
  name: string | null;
  description: string | null;
  misfirePolicy: MisfirePolicy;
  /** The tick the schedulers wait for; null when a cron expression never fires again. */
  nextFireAt: number | null;
  createdAt: number;
  updatedAt: number;
}

interface Row {
  job_config_id: number;
  name: string | null;
  description: string | null;
  type: string;
  cron: string | null;
  interval_ms: number | string | null;
  time_zone: string;
  misfire_policy: string;
  next_fire_at: number | string | null;
  created_at: number | string;
  updated_at: number | string;
}

const num = (v: number | string | null) => (v === null ? null : Number(v));

function toRecord(r: Row): ScheduleRecord {
  return {
    jobConfigId: String(r.job_config_id),
    name: r.name,
    description: r.description,
    type: r.type as ScheduleType,
    cron: r.cron,
    intervalMs: num(r.interval_ms),
    timeZone: r.time_zone,
    misfirePolicy: r.misfire_policy as MisfirePolicy,
    nextFireAt: num(r.next_fire_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toColumns(s: ScheduleRecord) {
  return {
    name: s.name,
    description: s.description,
    type: s.type,
    cron: s.cron,
    interval_ms: s.intervalMs,
    time_zone: s.timeZone,
    misfire_policy: s.misfirePolicy,
    next_fire_at: s.nextFireAt,
    updated_at: s.updatedAt,
  };
}

/** A schedule whose tick has come, as a scheduler reads it before claiming it. */
export type DueSchedule = ScheduleRecord & { nextFireAt: number };

export class ScheduleRepository {
  constructor(private readonly db: Knex) {}

  /** Runs `fn` in one database transaction (commits when it resolves, rolls back when it throws). */
  transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  async find(jobConfigId: string): Promise<ScheduleRecord | undefined> {
    const row = (await this.db('schedules')
      .where({ job_config_id: Number(jobConfigId) })
      .first()) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Stores a new schedule; false (nothing written) when the configuration has one already. */
  async insertIfAbsent(s: ScheduleRecord): Promise<boolean> {
    const rows = (await this.db('schedules')
      .insert({ ...toColumns(s), job_config_id: Number(s.jobConfigId), created_at: s.createdAt })
      .onConflict('job_config_id')
      .ignore()
      .returning('job_config_id')) as unknown[];
    return rows.length === 1;
  }

  /** Creates or replaces the schedule; true when it created it. */
  async upsert(s: ScheduleRecord): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const existed = (await trx('schedules')
        .where({ job_config_id: Number(s.jobConfigId) })
        .first('job_config_id')) as unknown;
      await trx('schedules')
        .insert({ ...toColumns(s), job_config_id: Number(s.jobConfigId), created_at: s.createdAt })
        .onConflict('job_config_id')
        .merge(Object.keys(toColumns(s)));
      return !existed;
    });
  }

  /** Deletes the schedule; false when there was none. */
  async delete(jobConfigId: string): Promise<boolean> {
    const n = await this.db('schedules')
      .where({ job_config_id: Number(jobConfigId) })
      .delete();
    return n > 0;
  }

  /** Schedules whose tick is at or before `now`, oldest tick first. */
  async due(now: number, limit: number, except: readonly string[] = []): Promise<DueSchedule[]> {
    const q = this.db('schedules').whereNotNull('next_fire_at').where('next_fire_at', '<=', now);
    if (except.length > 0) q.whereNotIn('job_config_id', except.map(Number));
    const rows = (await q.orderBy('next_fire_at', 'asc').limit(limit)) as Row[];
    return rows.map(toRecord) as DueSchedule[];
  }

  /**
   * Claims the tick `due` of a schedule: moves it on to `next` only if it still waits for `due`. Of
   * several schedulers reading the same tick exactly one gets true (the others' update finds no row:
   * on PostgreSQL it waits for the winner's commit, then re-reads the changed row).
   */
  async claim(trx: Knex, jobConfigId: string, due: number, next: number | null): Promise<boolean> {
    const n = await trx('schedules')
      .where({ job_config_id: Number(jobConfigId), next_fire_at: due })
      .update({ next_fire_at: next });
    return n === 1;
  }

  /** The schedules of several configurations in one query (for lists). */
  async findMany(jobConfigIds: string[]): Promise<Map<string, ScheduleRecord>> {
    const out = new Map<string, ScheduleRecord>();
    if (jobConfigIds.length === 0) return out;
    const rows = (await this.db('schedules').whereIn(
      'job_config_id',
      jobConfigIds.map((id) => Number(id)),
    )) as Row[];
    for (const r of rows) out.set(String(r.job_config_id), toRecord(r));
    return out;
  }
}
