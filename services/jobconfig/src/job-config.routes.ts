import { JobConfigIdParams, JobConfigInput, JobConfigPatch, ListQuery, type JobConfig } from '@im/contracts';
import { hrefBuilder, jsonBody, listPage, parse, principalOf, type HrefBuilder } from '@im/http-kit';
import express, { type RequestHandler, type Router } from 'express';
import type { JobConfigService } from './job-config.service';
import type { JobConfigRecord } from './job-config.repository';
import { toJobConfigResource } from './resources';
import type { ScheduleService } from './schedule.service';

export interface JobConfigRoutesDeps {
  configs: JobConfigService;
  /** Adds each configuration's schedule summary and nextFireTime (one query per response). */
  schedules?: Pick<ScheduleService, 'summaries'>;
  authenticate: RequestHandler;
  publicBaseUrl?: string;
}

export function jobConfigRoutes({
  configs,
  schedules,
  authenticate,
  publicBaseUrl,
}: JobConfigRoutesDeps): Router {
  const r = express.Router();
  const many = async (rows: JobConfigRecord[], href: HrefBuilder) => {
    const sched = schedules ? await schedules.summaries(rows.map((c) => c.id)) : new Map<string, never>();
    return rows.map((c) => toJobConfigResource(c, href, sched.get(c.id)));
  };
  const one = async (c: JobConfigRecord, href: HrefBuilder) => (await many([c], href))[0] as JobConfig;
  r.use('/api/jobconfigs', authenticate);

  r.get('/api/jobconfigs', async (req, res) => {
    const q = parse(ListQuery, req.query, 'query');
    const page = await configs.list(principalOf(req), {
      page: q.offset,
      size: q.size,
      sortby: q.sortby,
      direction: q.direction,
    });
    const href = hrefBuilder(req, publicBaseUrl);
    res.json(listPage(req, await many(page.rows, href), page.total, q.offset, q.size, publicBaseUrl));
  });

  r.post('/api/jobconfigs', jsonBody(), async (req, res) => {
    const body = parse(JobConfigInput, req.body);
    const created = await one(await configs.create(principalOf(req), body), hrefBuilder(req, publicBaseUrl));
    res.status(201).location(created.href).json(created);
  });

  r.get('/api/jobconfigs/:id', async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    res.json(await one(await configs.getFor(principalOf(req), id), hrefBuilder(req, publicBaseUrl)));
  });

  r.put('/api/jobconfigs/:id', jsonBody(), async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const body = parse(JobConfigInput, req.body);
    res.json(await one(await configs.replace(principalOf(req), id, body), hrefBuilder(req, publicBaseUrl)));
  });

  r.patch('/api/jobconfigs/:id', jsonBody(), async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const body = parse(JobConfigPatch, req.body);
    res.json(await one(await configs.patch(principalOf(req), id, body), hrefBuilder(req, publicBaseUrl)));
  });

  r.delete('/api/jobconfigs/:id', async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    await configs.delete(principalOf(req), id);
    res.status(204).end();
  });

  r.get('/api/jobconfigs/:id/package/entrypoints', async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    res.json(await configs.entryPoints(principalOf(req), id));
  });

  return r;
}
