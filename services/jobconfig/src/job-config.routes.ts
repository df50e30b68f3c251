import { JobConfigIdParams, JobConfigInput, JobConfigPatch, ListQuery } from '@im/contracts';
import { hrefBuilder, jsonBody, listPage, parse, principalOf } from '@im/http-kit';
import express, { type RequestHandler, type Router } from 'express';
import type { JobConfigService } from './job-config.service';
import { toJobConfigResource } from './resources';
import { sortError } from './sort-error';

export interface JobConfigRoutesDeps {
  configs: JobConfigService;
  authenticate: RequestHandler;
  publicBaseUrl?: string;
}

export function jobConfigRoutes({ configs, authenticate, publicBaseUrl }: JobConfigRoutesDeps): Router {
  const r = express.Router();
  r.use('/api/jobconfigs', authenticate);

  r.get('/api/jobconfigs', async (req, res) => {
    const q = parse(ListQuery, req.query, 'query');
    const page = await sortError(() =>
      configs.list(principalOf(req), {
        page: q.offset,
        size: q.size,
        sortby: q.sortby,
        direction: q.direction,
      }),
    );
    const href = hrefBuilder(req, publicBaseUrl);
    res.json(
      listPage(
        req,
        page.rows.map((c) => toJobConfigResource(c, href)),
        page.total,
        q.offset,
        q.size,
        publicBaseUrl,
      ),
    );
  });

  r.post('/api/jobconfigs', jsonBody(), async (req, res) => {
    const body = parse(JobConfigInput, req.body);
    const created = toJobConfigResource(
      await configs.create(principalOf(req), body),
      hrefBuilder(req, publicBaseUrl),
    );
    res.status(201).location(created.href).json(created);
  });

  r.get('/api/jobconfigs/:id', async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    res.json(
      toJobConfigResource(await configs.getFor(principalOf(req), id), hrefBuilder(req, publicBaseUrl)),
    );
  });

  r.put('/api/jobconfigs/:id', jsonBody(), async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const body = parse(JobConfigInput, req.body);
    res.json(
      toJobConfigResource(await configs.replace(principalOf(req), id, body), hrefBuilder(req, publicBaseUrl)),
    );
  });

  r.patch('/api/jobconfigs/:id', jsonBody(), async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const body = parse(JobConfigPatch, req.body);
    res.json(
      toJobConfigResource(await configs.patch(principalOf(req), id, body), hrefBuilder(req, publicBaseUrl)),
    );
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
