import {
  FileKey,
  JobConfigIdParams,
  ListQuery,
  z,
  type ConfigAccessPort,
  type FileResource,
} from '@im/contracts';
import { firstQueryValue, hrefBuilder, listPage, parse, principalOf, type HrefBuilder } from '@im/http-kit';
import type { Readable } from 'node:stream';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { FileRecord } from './file.repository';
import type { FileService } from './file.service';
import { parseKey, receiveMultipart } from './multipart';

export interface FileRoutesDeps {
  files: FileService;
  access: ConfigAccessPort;
  authenticate: RequestHandler;
  publicBaseUrl?: string;
}

const FileParams = z.object({ id: JobConfigIdParams.shape.id, key: z.string() });

export function toFileResource(f: FileRecord, href: HrefBuilder): FileResource {
  return {
    name: f.key,
    href: href(`/api/jobconfigs/${f.jobConfigId}/files/${encodeURIComponent(f.key)}`),
    metadata: {
      size: f.size,
      lastModified: new Date(f.updatedAt).toISOString(),
      contentType: f.contentType,
      sha256: f.sha256,
    },
  };
}

function isMultipart(req: Request): boolean {
  return /^multipart\/form-data\b/i.test(req.headers['content-type'] ?? '');
}

export function fileRoutes({ files, access, authenticate, publicBaseUrl }: FileRoutesDeps): Router {
  const r = express.Router();
  r.use('/api/jobconfigs/:id/files', authenticate);

  /** Resolves the configuration id after checking the caller may use it (404 otherwise). */
  const config = async (req: Request) => {
    const { id } = parse(JobConfigIdParams, { id: req.params.id }, 'params');
    await access.assertAccess(principalOf(req), id);
    return id;
  };

  const store = async (req: Request, res: Response, id: string, keyFromPath: string | undefined) => {
    const sink = (key: string, body: Readable, type: string | undefined) => files.put(id, key, body, type);
    // If storing fails mid-body, the rest of the upload is not worth reading: close the connection.
    res.setHeader('Connection', 'close');
    const result = isMultipart(req)
      ? await receiveMultipart(req, keyFromPath, sink)
      : await sink(
          keyFromPath ?? parseKey(firstQueryValue(req, 'key'), 'key'),
          req,
          req.headers['content-type']?.split(';')[0] || undefined,
        );
    res.removeHeader('Connection');
    const resource = toFileResource(result.file, hrefBuilder(req, publicBaseUrl));
    res
      .status(result.created ? 201 : 200)
      .location(resource.href)
      .json(resource);
  };

  r.get('/api/jobconfigs/:id/files', async (req, res) => {
    const id = await config(req);
    const q = parse(ListQuery, req.query, 'query');
    const page = await files.list(id, {
      page: q.offset,
      size: q.size,
      sortby: q.sortby,
      direction: q.direction,
    });
    const href = hrefBuilder(req, publicBaseUrl);
    res.json(
      listPage(
        req,
        page.rows.map((f) => toFileResource(f, href)),
        page.total,
        q.offset,
        q.size,
        publicBaseUrl,
      ),
    );
  });

  r.post('/api/jobconfigs/:id/files', async (req, res) => {
    const id = await config(req);
    await store(req, res, id, undefined);
  });

  r.get('/api/jobconfigs/:id/files/entrypoints/:key', async (req, res) => {
    const id = await config(req);
    const key = parseKey(req.params.key, 'key');
    res.json({ packageName: key, entryPoints: await files.entryPoints(id, key) });
  });

  r.head('/api/jobconfigs/:id/files/:key', async (req, res) => {
    const { key: rawKey } = parse(FileParams, req.params, 'params');
    const id = await config(req);
    const file = await files.get(id, parseKey(rawKey, 'key'));
    res.setHeader('Content-Type', file.contentType);
    res.setHeader('Content-Length', String(file.size));
    res.setHeader('ETag', `"${file.sha256}"`);
    res.status(200).end();
  });

  r.get('/api/jobconfigs/:id/files/:key', async (req, res) => {
    const { key: rawKey } = parse(FileParams, req.params, 'params');
    const id = await config(req);
    const key = parseKey(rawKey, 'key');
    const etag = `"${(await files.get(id, key)).sha256}"`;
    if (req.headers['if-none-match'] === etag) {
      res.status(304).setHeader('ETag', etag).end();
      return;
    }
    const { file, body } = await files.open(id, key);
    res.setHeader('Content-Type', file.contentType);
    res.setHeader('Content-Length', String(file.size));
    res.setHeader('ETag', etag);
    res.setHeader('Last-Modified', new Date(file.updatedAt).toUTCString());
    res.setHeader('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(key)}`);
    await new Promise<void>((resolve, reject) => {
      body.on('error', reject);
      res.on('finish', resolve);
      res.on('close', resolve);
      body.pipe(res);
    });
  });

  r.put('/api/jobconfigs/:id/files/:key', async (req, res) => {
    const id = await config(req);
    await store(req, res, id, parseKey(req.params.key, 'key'));
  });

  r.delete('/api/jobconfigs/:id/files/:key', async (req, res) => {
    const id = await config(req);
    await files.delete(id, parseKey(req.params.key, 'key'));
    res.status(204).end();
  });

  return r;
}

export { FileKey };
