import {
  JobConfigIdParams,
  JobIdParams,
  JobListQuery,
  JobStatus,
  LogQuery,
  RunRequest,
  jobLogKey,
  jobOutPrefix,
  packageArchiveKey,
  JobOutputPath,
  z,
} from '@im/contracts';
import { NotFoundError } from '@im/errors';
import { hrefBuilder, jsonBody, listPage, parse, principalOf } from '@im/http-kit';
import type { ObjectStorage } from '@im/storage';
import express, { type Request, type RequestHandler, type Router } from 'express';
import type { JobFilter } from './job.repository';
import type { JobService } from './job.service';
import { followLog, sendLog } from './job-log';
import { toJobResource } from './resources';

export interface JobRoutesDeps {
  jobs: JobService;
  storage: ObjectStorage;
  authenticate: RequestHandler;
  publicBaseUrl?: string;
  followPollMs?: number;
}

function filterOf(q: JobListQuery): JobFilter {
  return {
    ...(q.jobconfigid ? { jobConfigId: q.jobconfigid } : {}),
    ...(q.status
      ? { statuses: q.status.split(',').map((s) => JobStatus.parse(s.trim().toUpperCase())) }
      : {}),
    ...(q.startdate ? { from: Date.parse(q.startdate) } : {}),
    ...(q.enddate ? { to: Date.parse(q.enddate) } : {}),
  };
}

export function jobRoutes({
  jobs,
  storage,
  authenticate,
  publicBaseUrl,
  followPollMs,
}: JobRoutesDeps): Router {
  const r = express.Router();
  r.use(['/api/jobs', '/api/jobconfigs/:id/jobs'], authenticate);

  const listJobs = async (req: Request, filter: JobFilter, q: JobListQuery) => {
    const page = await jobs.list(principalOf(req), filter, {
      page: q.offset,
      size: q.size,
      sortby: q.sortby,
      direction: q.direction,
    });
    const href = hrefBuilder(req, publicBaseUrl);
    return listPage(
      req,
      page.rows.map((j) => toJobResource(j, href)),
      page.total,
      q.offset,
      q.size,
      publicBaseUrl,
    );
  };

  r.post('/api/jobconfigs/:id/jobs', jsonBody({ allowEmpty: true }), async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const body = parse(RunRequest, req.body);
    const job = toJobResource(await jobs.run(principalOf(req), id, body), hrefBuilder(req, publicBaseUrl));
    res.status(202).location(job.href).json(job);
  });

  r.get('/api/jobconfigs/:id/jobs', async (req, res) => {
    const { id } = parse(JobConfigIdParams, req.params, 'params');
    const q = parse(JobListQuery, req.query, 'query');
    // Someone else's configuration does not exist for the caller: 404, not an empty list.
    await jobs.assertConfigAccess(principalOf(req), id);
    res.json(await listJobs(req, { ...filterOf(q), jobConfigId: id }, q));
  });

  r.get('/api/jobs', async (req, res) => {
    const q = parse(JobListQuery, req.query, 'query');
    res.json(await listJobs(req, filterOf(q), q));
  });

  r.get('/api/jobs/:id', async (req, res) => {
    const { id } = parse(JobIdParams, req.params, 'params');
    res.json(toJobResource(await jobs.get(principalOf(req), id), hrefBuilder(req, publicBaseUrl)));
  });

  r.delete('/api/jobs/:id', async (req, res) => {
    const { id } = parse(JobIdParams, req.params, 'params');
    res
      .status(202)
      .json(toJobResource(await jobs.cancel(principalOf(req), id), hrefBuilder(req, publicBaseUrl)));
  });

  r.get('/api/jobs/:id/log', async (req, res) => {
    const { id } = parse(JobIdParams, req.params, 'params');
    const { follow } = parse(LogQuery, req.query, 'query');
    const job = await jobs.get(principalOf(req), id);
    if (!follow || jobs.isFinished(job)) {
      await sendLog(storage, jobLogKey(id), res);
      return;
    }
    await followLog(storage, jobLogKey(id), res, {
      pollMs: followPollMs ?? 500,
      maxMs: 60 * 60 * 1000,
      isFinished: async () => {
        const now = await jobs.reload(id);
        return !now || jobs.isFinished(now);
      },
    });
  });

  r.get('/api/jobs/:id/out/files', async (req, res) => {
    const { id } = parse(JobIdParams, req.params, 'params');
    await jobs.get(principalOf(req), id);
    const href = hrefBuilder(req, publicBaseUrl);
    const items = [];
    for await (const o of storage.list(jobOutPrefix(id))) {
      const name = o.key.slice(jobOutPrefix(id).length);
      items.push({
        name,
        href: href(`/api/jobs/${id}/out/files/${encodeURIComponent(name)}`),
        metadata: { size: o.size, lastModified: o.lastModified.toISOString() },
      });
    }
    res.json({
      totalRecords: items.length,
      totalPages: 1,
      size: items.length,
      pageNumber: 0,
      items,
      links: { prev: null, next: null },
    });
  });

  r.get('/api/jobs/:id/out/files/:key', async (req, res) => {
    const { id, key } = parse(
      z.object({ id: JobIdParams.shape.id, key: JobOutputPath }),
      req.params,
      'params',
    );
    await jobs.get(principalOf(req), id);
    const obj = await storage.get(jobOutPrefix(id) + key);
    if (!obj)
      throw new NotFoundError(
        `Job ${id} has no output file "${key}". List them with GET /api/jobs/${id}/out/files.`,
      );
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', String(obj.info.size));
    res.setHeader('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(key)}`);
    obj.body.pipe(res);
  });

  r.get('/api/jobs/:id/package', async (req, res) => {
    const { id } = parse(JobIdParams, req.params, 'params');
    const job = await jobs.get(principalOf(req), id);
    if (!job.packageSha256)
      throw new NotFoundError(
        `Job ${id} has not run a package yet (it is ${job.status}): the package a job runs is kept once a runner starts it.`,
      );
    const obj = await storage.get(packageArchiveKey(job.packageSha256));
    if (!obj)
      throw new NotFoundError(
        `The package job ${id} ran (sha256 ${job.packageSha256}) is no longer in object storage.`,
      );
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', String(obj.info.size));
    res.setHeader('ETag', `"${job.packageSha256}"`);
    res.setHeader('X-Package-Sha256', job.packageSha256);
    res.setHeader(
      'Content-Disposition',
      `attachment; filename*=UTF-8''${encodeURIComponent(job.packageName)}`,
    );
    obj.body.pipe(res);
  });

  return r;
}
