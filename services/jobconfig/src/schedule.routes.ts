import { JobConfigIdParams, ScheduleRequest, type ScheduleResponse } from '@im/contracts';
import { hrefBuilder, jsonBody, parse, principalOf, type HrefBuilder } from '@im/http-kit';
import express, { type RequestHandler, type Router } from 'express';
import type { ScheduleRecord } from './schedule.repository';
import type { ScheduleService } from './schedule.service';
import { formatIsoDuration, timeZoneInfo } from './schedule.timeline';

export interface ScheduleRoutesDeps {
  schedules: ScheduleService;
  authenticate: RequestHandler;
  publicBaseUrl?: string;
  now?: () => number;
}

export function toScheduleResource(s: ScheduleRecord, href: HrefBuilder, now: number): ScheduleResponse {
  const tz = timeZoneInfo(s.timeZone, now);
  return {
    href: href(`/api/jobconfigs/${s.jobConfigId}/schedule`),
    name: s.name,
    type: s.type,
    cronSchedule: s.cron,
    intervalFrequency: s.intervalMs === null ? null : formatIsoDuration(s.intervalMs),
    nextFireTime: s.nextFireAt === null ? null : new Date(s.nextFireAt).toISOString(),
    description: s.description,
    timeZone: s.timeZone,
    timeZoneDisplayName: tz.displayName,
    timeZoneOffset: tz.offset,
    misfirePolicy: s.misfirePolicy,
    resourceId: s.jobConfigId,
    resourceType: 'jobconfig',
  };
}

/**
 * `/api/jobconfigs/{id}/schedule`: a configuration's one schedule. GET (404 without one), PUT creates
 * or replaces (200), POST creates (201; 409 when there is one), DELETE (204). The configuration's
 * access rules apply.
 */
export function scheduleRoutes({
  schedules,
  authenticate,
  publicBaseUrl,
  now = Date.now,
}: ScheduleRoutesDeps): Router {
  const r = express.Router();
  const path = '/api/jobconfigs/:id/schedule';
  r.use(path, authenticate);

  r.get(path, async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const s = await schedules.get(principalOf(req), id);
    res.json(toScheduleResource(s, hrefBuilder(req, publicBaseUrl), now()));
  });

  r.put(path, jsonBody(), async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const body = parse(ScheduleRequest, req.body);
    const { schedule } = await schedules.put(principalOf(req), id, body);
    res.json(toScheduleResource(schedule, hrefBuilder(req, publicBaseUrl), now()));
  });

  r.post(path, jsonBody(), async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const body = parse(ScheduleRequest, req.body);
    const created = toScheduleResource(
      await schedules.create(principalOf(req), id, body),
      hrefBuilder(req, publicBaseUrl),
      now(),
    );
    res.status(201).location(created.href).json(created);
  });

  r.delete(path, async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    await schedules.delete(principalOf(req), id);
    res.status(204).end();
  });

  return r;
}
