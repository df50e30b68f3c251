import { z } from '@im/contracts';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { describeUrl } from '../credential.redaction';
import { fileDestination } from '../formats/stream.sink';
import {
  describeFetchError,
  describeUnexpected,
  HeaderMap,
  HttpUrl,
  httpRequest,
  TimeoutSeconds,
} from '../http.client';
import { resolveReadFile, resolveWriteFile } from '../package-file.resolver';
import { defineStep, StepError } from '../step.registry';

const Fields = z
  .strictObject({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('GET'),
    url: HttpUrl,
    /** Credentials go here, from (secure) macros: `Authorization: Bearer $(API_TOKEN)`. */
    headers: HeaderMap.default({}),
    /** A string is sent as it is; an object or a list as JSON. */
    body: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
    /** A file of the package (or `$(LOCAL_JOB_OUT_DIR)/…`) sent as the body, streamed. */
    bodyFile: z.string().min(1).optional(),
    /** The status(es) that mean success; default any 2xx. */
    expectStatus: z.union([z.int().min(100).max(599), z.array(z.int().min(100).max(599)).min(1)]).optional(),
    /** Saves the answer's body to this file (relative to the out dir, or inside the out or work dir). */
    saveTo: z.string().min(1).optional(),
    timeoutSeconds: TimeoutSeconds,
  })
  .superRefine((c, ctx) => {
    if (c.body !== undefined && c.bodyFile !== undefined)
      ctx.addIssue({ code: 'custom', path: ['bodyFile'], message: 'give either body or bodyFile' });
    if ((c.method === 'GET' || c.method === 'HEAD') && (c.body !== undefined || c.bodyFile !== undefined))
      ctx.addIssue({ code: 'custom', path: ['method'], message: `${c.method} sends no body` });
  });

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

/**
 * `http`: one request. Succeeds when the status is expected (default 2xx); the answer's body is
 * saved to `saveTo` or discarded. Redirects are not followed (the headers never go elsewhere).
 */
export const httpStep = defineStep('http', Fields, async (c, _common, ctx) => {
  const dirs = { specDir: ctx.spec.specDir, outDir: ctx.spec.outDir, workDir: ctx.spec.workDir };
  const headers: Record<string, string> = { ...c.headers };
  let body: string | WebReadableStream<Uint8Array> | undefined;
  if (typeof c.body === 'string') body = c.body;
  else if (c.body !== undefined) {
    body = JSON.stringify(c.body);
    if (!hasHeader(headers, 'content-type')) headers['content-type'] = 'application/json';
  } else if (c.bodyFile !== undefined) {
    const file = await resolveReadFile(dirs, c.bodyFile);
    headers['content-length'] = String((await fs.stat(file)).size);
    body = Readable.toWeb(createReadStream(file)) as WebReadableStream<Uint8Array>;
  }
  const saveTo = c.saveTo !== undefined ? await resolveWriteFile(dirs, c.saveTo) : undefined;

  const started = Date.now();
  const what = `${c.method} ${describeUrl(c.url)}`;
  const res = await httpRequest({
    method: c.method,
    url: c.url,
    headers,
    body,
    timeoutMs: c.timeoutSeconds * 1000,
  });
  const expected =
    c.expectStatus === undefined
      ? res.status >= 200 && res.status <= 299
      : (Array.isArray(c.expectStatus) ? c.expectStatus : [c.expectStatus]).includes(res.status);
  if (!expected) {
    const want =
      c.expectStatus === undefined
        ? '2xx'
        : (Array.isArray(c.expectStatus) ? c.expectStatus : [c.expectStatus]).join(' or ');
    throw new StepError(`${what} ${await describeUnexpected(res)} (expected ${want})`);
  }

  let bytes = 0;
  if (res.body) {
    const answer = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        cb(null, chunk);
      },
    });
    const dest = saveTo ? fileDestination(saveTo) : undefined;
    const sink =
      dest?.stream ??
      new Writable({
        write(_chunk, _enc, cb) {
          cb();
        },
      });
    try {
      await pipeline(answer, meter, sink);
      await dest?.commit();
    } catch (err) {
      await dest?.abort();
      throw new StepError(
        `${what}: reading the answer failed: ${describeFetchError(err, c.timeoutSeconds * 1000)}`,
      );
    }
  }
  ctx.logger.info(
    `${what} → ${res.status} in ${Date.now() - started} ms, ${bytes} byte(s)${c.saveTo ? ` saved to ${c.saveTo}` : ''}`,
  );
  return { httpStatus: res.status, bytes };
});
