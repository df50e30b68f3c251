import type { ConfigAccessPort, FileCatalogPort, Principal } from '@im/contracts';
import { AppError, NotFoundError, UnavailableError } from '@im/errors';
import { injectTraceHeaders } from '@im/observability';
import { INTERNAL_TOKEN_HEADER } from './internal-auth';
import { currentRequestId } from './request-scope';

export interface InternalClientOptions {
  /** Base URL of the other service, e.g. http://jobconfig:8082 */
  baseUrl: string;
  /** Give up after this long: a user is waiting. */
  timeoutMs: number;
  /** The installation's internal token: the other service answers nothing without it. */
  internalToken: string;
}

/**
 * A synchronous call to another service on behalf of the caller: it forwards the caller's own bearer
 * token (the other service verifies it as always), the request id and the internal token (which lets
 * it past the other service's port), and bounds the wait.
 */
async function call(
  opts: InternalClientOptions,
  principal: Principal,
  method: string,
  path: string,
): Promise<Response> {
  if (!principal.token) throw new AppError('INTERNAL', "An internal call needs the caller's token.");
  const headers: Record<string, string> = {
    authorization: `Bearer ${principal.token}`,
    accept: 'application/json',
    [INTERNAL_TOKEN_HEADER]: opts.internalToken,
  };
  const rid = currentRequestId();
  if (rid) headers['x-request-id'] = rid;
  injectTraceHeaders(headers);
  const service = new URL(opts.baseUrl).host;
  try {
    return await fetch(`${opts.baseUrl.replace(/\/+$/, '')}${path}`, {
      method,
      headers,
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (err) {
    throw new UnavailableError(`${service} did not answer in time; try again shortly.`, err);
  }
}

async function failure(res: Response, what: string): Promise<never> {
  let detail = `${what} failed with status ${res.status}`;
  try {
    const body = (await res.json()) as { detail?: string; code?: string };
    if (res.status === 404) throw new NotFoundError(body.detail ?? `${what}: not found`);
    if (res.status >= 400 && res.status < 500 && body.code) {
      throw new AppError(body.code as never, body.detail ?? detail);
    }
    detail = body.detail ?? detail;
  } catch (err) {
    if (err instanceof AppError) throw err;
  }
  throw new UnavailableError(`${detail}; try again shortly.`);
}

/** file-storage → jobconfig: may the caller use this configuration? */
export function httpConfigAccess(opts: InternalClientOptions): ConfigAccessPort {
  return {
    async assertAccess(principal, jobConfigId) {
      const res = await call(opts, principal, 'GET', `/api/jobconfigs/${encodeURIComponent(jobConfigId)}`);
      if (res.ok) {
        await res.body?.cancel();
        return;
      }
      await failure(res, `Looking up job configuration ${jobConfigId}`);
    },
  };
}

/** jobconfig → file-storage: is a file attached, and what entry points does a package have? */
export function httpFileCatalog(opts: InternalClientOptions): FileCatalogPort {
  return {
    async exists(principal, jobConfigId, key) {
      const res = await call(
        opts,
        principal,
        'HEAD',
        `/api/jobconfigs/${encodeURIComponent(jobConfigId)}/files/${encodeURIComponent(key)}`,
      );
      if (res.ok) return true;
      if (res.status === 404) return false;
      return failure(res, `Looking up file ${key}`);
    },
    async entryPoints(principal, jobConfigId, key) {
      const res = await call(
        opts,
        principal,
        'GET',
        `/api/jobconfigs/${encodeURIComponent(jobConfigId)}/files/entrypoints/${encodeURIComponent(key)}`,
      );
      if (!res.ok) return failure(res, `Reading the entry points of ${key}`);
      return ((await res.json()) as { entryPoints: string[] }).entryPoints;
    },
  };
}
