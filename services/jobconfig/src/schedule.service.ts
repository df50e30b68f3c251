import { parseIsoDuration, type Principal, type ScheduleRequest } from '@im/contracts';
import { ConflictError, InputError, NotFoundError } from '@im/errors';
import type { JobConfigService } from './job-config.service';
import type { ScheduleRecord, ScheduleRepository } from './schedule.repository';
import { cronProblem, firstFireAt, scheduleSummary, type ScheduleSpec } from './schedule.timeline';

/** What a configuration resource shows of its schedule. */
export interface ScheduleSummary {
  summary: string;
  nextFireAt: number | null;
}

/**
 * The schedule of a configuration (`/jobconfigs/{id}/schedule`). The configuration's access rules
 * apply (the owner or an administrator; to anyone else neither exists). A bad request changes nothing.
 */
export class ScheduleService {
  constructor(
    private readonly repo: ScheduleRepository,
    private readonly configs: JobConfigService,
    private readonly now: () => number = Date.now,
  ) {}

  async get(principal: Principal, jobConfigId: string): Promise<ScheduleRecord> {
    await this.configs.getFor(principal, jobConfigId);
    const s = await this.repo.find(jobConfigId);
    if (!s) {
      throw new NotFoundError(
        `Job configuration ${jobConfigId} has no schedule; create one with PUT /api/jobconfigs/${jobConfigId}/schedule.`,
      );
    }
    return s;
  }

  /** PUT: creates the schedule or replaces it; the next fire time is computed afresh from now. */
  async put(
    principal: Principal,
    jobConfigId: string,
    req: ScheduleRequest,
  ): Promise<{ schedule: ScheduleRecord; created: boolean }> {
    await this.configs.getFor(principal, jobConfigId);
    const current = await this.repo.find(jobConfigId);
    const s = this.toRecord(jobConfigId, req, current?.createdAt);
    const created = await this.repo.upsert(s);
    return { schedule: (await this.repo.find(jobConfigId)) ?? s, created };
  }

  /** POST: creates the schedule; 409 when the configuration has one (replace it with PUT). */
  async create(principal: Principal, jobConfigId: string, req: ScheduleRequest): Promise<ScheduleRecord> {
    await this.configs.getFor(principal, jobConfigId);
    const s = this.toRecord(jobConfigId, req, undefined);
    if (!(await this.repo.insertIfAbsent(s))) {
      throw new ConflictError(
        `Job configuration ${jobConfigId} has a schedule already; replace it with PUT or delete it first.`,
      );
    }
    return s;
  }

  async delete(principal: Principal, jobConfigId: string): Promise<void> {
    await this.configs.getFor(principal, jobConfigId);
    if (!(await this.repo.delete(jobConfigId))) {
      throw new NotFoundError(`Job configuration ${jobConfigId} has no schedule.`);
    }
  }

  /** The schedule summaries of several configurations, in one query (no access check: for resources already checked). */
  async summaries(jobConfigIds: string[]): Promise<Map<string, ScheduleSummary>> {
    const found = await this.repo.findMany(jobConfigIds);
    return new Map(
      [...found].map(([id, s]) => [id, { summary: scheduleSummary(s), nextFireAt: s.nextFireAt }]),
    );
  }

  /** Validates what the schema cannot (the cron expression itself) and computes the first fire. */
  private toRecord(jobConfigId: string, req: ScheduleRequest, createdAt: number | undefined): ScheduleRecord {
    const now = this.now();
    const timeZone = req.timeZone ?? 'UTC';
    const spec: ScheduleSpec =
      req.type === 'cron'
        ? {
            type: 'cron',
            cron: (req.cronSchedule as string).trim().replace(/\s+/g, ' '),
            intervalMs: null,
            timeZone,
          }
        : {
            type: 'interval',
            cron: null,
            intervalMs: parseIsoDuration(req.intervalFrequency as string) as number,
            timeZone,
          };
    if (spec.type === 'cron') {
      const problem = cronProblem(spec.cron as string, timeZone, now);
      if (problem) {
        throw new InputError(`The cron expression "${spec.cron}" ${problem}.`, [
          { path: 'cronSchedule', message: problem },
        ]);
      }
    }
    return {
      ...spec,
      jobConfigId,
      name: req.name ?? null,
      description: req.description ?? null,
      misfirePolicy: req.misfirePolicy ?? 'fire-once',
      nextFireAt: firstFireAt(spec, now),
      createdAt: createdAt ?? now,
      updatedAt: now,
    };
  }
}
