import { z } from '@im/contracts';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { describeUrl, redactCredentials } from './credential.redaction';
import { StepError } from './step.registry';

/** An http:// or https:// URL. */
export const HttpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');

/** Request headers; put credentials in them from (secure) macros: `Authorization: Bearer $(API_TOKEN)`. */
export const HeaderMap = z.record(
  z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid header name'),
  z.string(),
);

export const TimeoutSeconds = z.number().positive().max(3600).default(30);

export interface HttpRequest {
  method: string;
  url: string;
  headers: Readonly<Record<string, string>>;
  body?: string | ReadableStream<Uint8Array> | undefined;
  timeoutMs: number;
}

/**
 * One HTTP request with a timeout that covers the answer's body too. Redirects are not followed, so
 * the headers (credentials) never go to another server: a 3xx answer is returned as it is. Network
 * errors and timeouts become StepErrors naming the method and URL (no query string, no credentials).
 */
export async function httpRequest(r: HttpRequest): Promise<Response> {
  const what = `${r.method} ${describeUrl(r.url)}`;
  const init: RequestInit & { duplex?: 'half' } = {
    method: r.method,
    headers: r.headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(r.timeoutMs),
  };
  if (r.body !== undefined) {
    init.body = r.body;
    if (typeof r.body !== 'string') init.duplex = 'half';
  }
  try {
    return await fetch(r.url, init);
  } catch (err) {
    throw new StepError(`${what}: ${describeFetchError(err, r.timeoutMs)}`);
  }
}

/** Why a request failed, in a few words (`timed out after 30 s`, `ECONNREFUSED`). */
export function describeFetchError(err: unknown, timeoutMs: number): string {
  // Duck-typed: fetch's errors may come from another realm (a test sandbox), where instanceof fails.
  const e = (err !== null && typeof err === 'object' ? err : {}) as {
    name?: unknown;
    message?: unknown;
    cause?: { code?: unknown; message?: unknown } | null;
  };
  if (e.name === 'TimeoutError' || e.name === 'AbortError')
    return `no complete answer within ${timeoutMs / 1000} s`;
  const cause = e.cause !== null && typeof e.cause === 'object' ? e.cause : undefined;
  if (cause && typeof cause.code === 'string')
    return `${cause.code}${typeof cause.message === 'string' ? ` (${redactCredentials(cause.message)})` : ''}`;
  if (cause && typeof cause.message === 'string') return redactCredentials(cause.message);
  return redactCredentials(typeof e.message === 'string' ? e.message : String(err));
}

/** At most `max` characters of an answer's body, for an error message; the rest is not read. */
export async function bodyExcerpt(res: Response, max = 300): Promise<string> {
  if (!res.body) return '';
  const stream = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= max * 4) break;
    }
  } catch {
    // a broken body: what arrived is enough
  } finally {
    stream.destroy();
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** `answered 500 Internal Server Error: <body>` and, for a redirect, where it pointed. */
export async function describeUnexpected(res: Response): Promise<string> {
  const location = res.headers.get('location');
  const redirect =
    res.status >= 300 && res.status < 400 && location
      ? ` (a redirect to ${describeUrl(new URL(location, res.url || 'http://x').toString())}; redirects are not followed, use the final URL)`
      : '';
  const body = await bodyExcerpt(res);
  return `answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${redirect}${body ? `: ${body}` : ''}`;
}
