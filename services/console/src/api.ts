/**
 * The console's only way to the platform: fetch against /api on the same origin. The access token is
 * kept in memory and in sessionStorage (it survives a reload of this tab, not the browser); a 401 is
 * answered once by POST /api/login/refresh and the request retried.
 */
export interface Tokens {
  access_token: string;
  refresh_token: string;
}

export interface Problem {
  status: number;
  code?: string;
  title?: string;
  detail?: string;
  errors?: { path: string; message: string }[];
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
  }
}

const KEY = 'im.console.tokens';
let tokens: Tokens | undefined = readStored();
const listeners = new Set<() => void>();

function readStored(): Tokens | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Tokens) : undefined;
  } catch {
    return undefined;
  }
}

export function setTokens(t: Tokens | undefined): void {
  tokens = t;
  if (t) sessionStorage.setItem(KEY, JSON.stringify(t));
  else sessionStorage.removeItem(KEY);
  for (const l of listeners) l();
}

export const isLoggedIn = (): boolean => tokens !== undefined;

/** For EventSource, which cannot set headers: the token goes in the query of /api/jobs/events only. */
export const accessToken = (): string | undefined => tokens?.access_token;

export function onAuthChange(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** The claims of the access token (read, not verified: the server verifies it on every call). */
export function currentUser(): { name: string; roles: string[]; sub: string } | undefined {
  const part = tokens?.access_token.split('.')[1];
  if (!part) return undefined;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const claims = JSON.parse(json) as { name?: string; roles?: string[]; sub?: string };
    return { name: claims.name ?? '', roles: claims.roles ?? [], sub: claims.sub ?? '' };
  } catch {
    return undefined;
  }
}

let refreshing: Promise<boolean> | undefined;

async function refresh(): Promise<boolean> {
  const rt = tokens?.refresh_token;
  if (!rt) return false;
  refreshing ??= (async () => {
    try {
      const r = await fetch('/api/login/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: rt }),
      });
      if (!r.ok) {
        setTokens(undefined);
        return false;
      }
      setTokens((await r.json()) as Tokens);
      return true;
    } finally {
      refreshing = undefined;
    }
  })();
  return refreshing;
}

async function problemOf(r: Response): Promise<Problem> {
  try {
    const body = (await r.json()) as Partial<Problem>;
    return { ...body, status: r.status };
  } catch {
    return { status: r.status, detail: r.statusText };
  }
}

/** A request with the bearer token; refreshes once on 401. Returns the raw response when ok. */
export async function request(path: string, init: RequestInit = {}, retried = false): Promise<Response> {
  const headers = new Headers(init.headers);
  if (tokens) headers.set('authorization', `Bearer ${tokens.access_token}`);
  const r = await fetch(path, { ...init, headers });
  if (r.status === 401 && !retried && tokens && (await refresh())) return request(path, init, true);
  if (r.status === 401 && retried) setTokens(undefined);
  if (!r.ok) throw new ApiError(await problemOf(r));
  return r;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const r = await request(path, init);
  if (r.status === 204) return undefined as T;
  const text = await r.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function login(username: string, password: string): Promise<void> {
  const r = await fetch('/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!r.ok) throw new ApiError(await problemOf(r));
  setTokens((await r.json()) as Tokens);
}

export async function logout(): Promise<void> {
  try {
    if (tokens) await request('/api/logout', { method: 'POST' });
  } catch {
    // The tokens are dropped here whatever the server said.
  } finally {
    setTokens(undefined);
  }
}

/**
 * Uploads a file as multipart (key + file) with XMLHttpRequest, the browser API that reports upload
 * progress. Retries once after a refresh on 401.
 */
export function upload(
  configId: string,
  file: File,
  onProgress: (loaded: number, total: number) => void,
  retried = false,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/jobconfigs/${encodeURIComponent(configId)}/files`);
    if (tokens) xhr.setRequestHeader('authorization', `Bearer ${tokens.access_token}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    };
    xhr.onerror = () => reject(new ApiError({ status: 0, detail: 'The upload failed (network error).' }));
    xhr.onload = () => {
      if (xhr.status === 401 && !retried) {
        refresh().then(
          (ok) =>
            ok
              ? upload(configId, file, onProgress, true).then(resolve, reject)
              : reject(new ApiError({ status: 401, detail: 'Your session has ended; log in again.' })),
          reject,
        );
        return;
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      let p: Problem = { status: xhr.status };
      try {
        p = { ...(JSON.parse(xhr.responseText) as Problem), status: xhr.status };
      } catch {
        // not JSON
      }
      reject(new ApiError(p));
    };
    const form = new FormData();
    form.append('key', file.name);
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

/** Streams a job's log (`?follow=true` keeps the response open until the job ends). */
export async function followLog(
  jobId: string,
  onText: (chunk: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const r = await request(`/api/jobs/${encodeURIComponent(jobId)}/log?follow=true`, { signal });
  const reader = r.body?.getReader();
  if (!reader) {
    onText(await r.text());
    return;
  }
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onText(decoder.decode(value, { stream: true }));
  }
  onText(decoder.decode());
}

export interface Page<T> {
  items: T[];
  totalRecords: number;
  totalPages: number;
  pageNumber: number;
}

export interface Macro {
  key: string;
  value?: string | null;
  secure: boolean;
  description?: string | null;
}

export interface JobConfig {
  id: string;
  name: string;
  description: string | null;
  active: boolean;
  lastModified?: string;
  runtimeConfig: {
    packageName: string | null;
    entryPoint: string | null;
    logLevel?: string | null;
    macros?: Macro[];
  };
}

export interface FileItem {
  name: string;
  metadata: { size: number; lastModified: string };
}

export interface Job {
  id: string;
  status: string;
  scheduled: string;
  started?: string | null;
  finished?: string | null;
  returnCode?: number | null;
  jobConfig: { id: string; name: string };
  submittedByUser?: { name: string };
}

export interface User {
  id: string;
  name: string;
  email: string | null;
  fullName: string | null;
  active: boolean;
  roles: string[];
}

export const TERMINAL = ['FINISHED', 'ERROR', 'FAILED', 'CANCELLED'];
