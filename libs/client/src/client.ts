import { ProblemError } from './problem.error';
import type {
  Account,
  AuditEvent,
  AuditParams,
  CreateAccountRequest,
  CreatedAccount,
  CreateUserRequest,
  Download,
  EntryPoints,
  FileResource,
  Job,
  JobConfig,
  JobConfigInput,
  JobConfigPatch,
  JobListParams,
  JobOutputFile,
  ListPage,
  ListParams,
  MacroRequest,
  MacroBindingConfirmation,
  MacroResource,
  MultipartUploadOptions,
  ProductInfo,
  RunRequest,
  ScheduleRequest,
  ScheduleResponse,
  TokenResponse,
  Tokens,
  UpdateUserRequest,
  UploadOptions,
  User,
} from './types';

export interface ClientOptions {
  /** The platform: `http://host:8080` or `http://host:8080/api`. */
  baseUrl: string;
  /** The session to start with (from a previous login). */
  tokens?: Tokens;
  /** Called whenever the session changes (login, refresh, logout), to persist it. */
  onTokens?: (tokens: Tokens | undefined) => void | Promise<void>;
  /**
   * Reads the session as persisted now. When several processes share one stored session (scripts
   * running the CLI in parallel), another may have refreshed it, rotating the refresh token this one
   * holds: before refreshing, and again when a refresh is refused, the client takes a newer stored
   * session instead.
   */
  reloadTokens?: () => Tokens | undefined | Promise<Tokens | undefined>;
  /**
   * Runs a refresh under a lock shared with those other processes, so that only one of them rotates
   * the refresh token (the server revokes a whole session when a rotated refresh token is presented
   * again); the others then find the newer session with `reloadTokens`.
   */
  refreshLock?: <T>(critical: () => Promise<T>) => Promise<T>;
  /** Injected for tests; the global fetch otherwise. */
  fetch?: typeof fetch;
  /** Injected for tests; Date.now otherwise. */
  now?: () => number;
  /** Refresh this long before the access token expires (default 30 s). */
  refreshMarginMs?: number;
}

type Query = Record<string, string | number | boolean | string[] | undefined>;

interface RequestSpec {
  method: string;
  path: string;
  query?: Query;
  json?: unknown;
  /** Sent as is; a FormData gets its multipart content type (with the boundary) from fetch. */
  body?: ReadableStream<Uint8Array> | Uint8Array | FormData;
  headers?: Record<string, string>;
  /** Sends no Authorization header (login, refresh, product info). */
  anonymous?: boolean;
}

/** Normalizes a platform URL to its API base (`…/api`, no trailing slash). */
export function apiBase(url: string): string {
  const u = new URL(url);
  const p = u.pathname.replace(/\/+$/, '');
  u.pathname = p.endsWith('/api') ? p : `${p}/api`;
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/+$/, '');
}

const seg = encodeURIComponent;

/**
 * A typed client of the REST API (docs/api.md). Every method answers the contract's types or throws a
 * {@link ProblemError}; the session refreshes itself when the access token is about to expire, and once
 * more when the server says it has (401 UNAUTHENTICATED) for requests whose body can be sent again.
 */
export class ImClient {
  readonly baseUrl: string;
  private tokens: Tokens | undefined;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  private readonly margin: number;
  private readonly onTokens: ClientOptions['onTokens'];
  private readonly reloadTokens: ClientOptions['reloadTokens'];
  private readonly refreshLock: NonNullable<ClientOptions['refreshLock']>;
  private refreshing: Promise<Tokens> | undefined;

  constructor(opts: ClientOptions) {
    this.baseUrl = apiBase(opts.baseUrl);
    this.tokens = opts.tokens;
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
    this.now = opts.now ?? Date.now;
    this.margin = opts.refreshMarginMs ?? 30_000;
    this.onTokens = opts.onTokens;
    this.reloadTokens = opts.reloadTokens;
    this.refreshLock = opts.refreshLock ?? ((critical) => critical());
  }

  get session(): Tokens | undefined {
    return this.tokens;
  }

  // ---- session ---------------------------------------------------------------------------------

  async login(username: string, password: string): Promise<Tokens> {
    const t = await this.json<TokenResponse>({
      method: 'POST',
      path: '/login',
      json: { username, password },
      anonymous: true,
    });
    return this.setTokens(t);
  }

  /** Exchanges the refresh token for a new pair (the refresh token rotates). */
  async refresh(): Promise<Tokens> {
    this.refreshing ??= this.refreshLock(async () => {
      const current = this.tokens;
      if (!current) throw notLoggedIn();
      const newer = await this.newerStored(current);
      if (newer && this.usable(newer)) return (this.tokens = newer);
      try {
        return await this.exchange(newer ?? current);
      } catch (e) {
        // Refused: another process may have rotated the refresh token since we read it.
        const rotated =
          e instanceof ProblemError && e.status === 401
            ? await this.newerStored(newer ?? current)
            : undefined;
        if (!rotated) throw e;
        return this.usable(rotated) ? (this.tokens = rotated) : this.exchange(rotated);
      }
    }).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async exchange(from: Tokens): Promise<Tokens> {
    const t = await this.json<TokenResponse>({
      method: 'POST',
      path: '/login/refresh',
      json: { refresh_token: from.refreshToken },
      anonymous: true,
    });
    return this.setTokens(t);
  }

  private async newerStored(than: Tokens): Promise<Tokens | undefined> {
    const stored = await this.reloadTokens?.();
    return stored && stored.refreshToken !== than.refreshToken ? stored : undefined;
  }

  private usable(t: Tokens): boolean {
    return t.expiresAt - this.margin > this.now();
  }

  /** Revokes the session's refresh tokens on the server and forgets the session. */
  async logout(): Promise<void> {
    if (this.tokens) await this.none({ method: 'POST', path: '/logout' });
    this.tokens = undefined;
    await this.onTokens?.(undefined);
  }

  productInfo(): Promise<ProductInfo> {
    return this.json({ method: 'GET', path: '/product/info', anonymous: true });
  }

  // ---- job configurations ----------------------------------------------------------------------

  readonly jobConfigs = {
    list: (params: ListParams = {}): Promise<ListPage<JobConfig>> =>
      this.json({ method: 'GET', path: '/jobconfigs', query: { ...params } }),
    get: (id: string): Promise<JobConfig> => this.json({ method: 'GET', path: `/jobconfigs/${seg(id)}` }),
    create: (input: JobConfigInput): Promise<JobConfig> =>
      this.json({ method: 'POST', path: '/jobconfigs', json: input }),
    /** PUT: replaces the configuration. */
    replace: (id: string, input: JobConfigInput): Promise<JobConfig> =>
      this.json({ method: 'PUT', path: `/jobconfigs/${seg(id)}`, json: input }),
    /** PATCH: merges the fields given, `runtimeConfig` field by field. */
    update: (id: string, patch: JobConfigPatch): Promise<JobConfig> =>
      this.json({ method: 'PATCH', path: `/jobconfigs/${seg(id)}`, json: patch }),
    delete: (id: string): Promise<void> => this.none({ method: 'DELETE', path: `/jobconfigs/${seg(id)}` }),
    /** Entry points of the selected package, or of the attached file `key`. */
    entryPoints: (id: string, key?: string): Promise<EntryPoints> =>
      this.json({
        method: 'GET',
        path:
          key === undefined
            ? `/jobconfigs/${seg(id)}/package/entrypoints`
            : `/jobconfigs/${seg(id)}/files/entrypoints/${seg(key)}`,
      }),
  };

  // ---- macros of a configuration (the same list as its runtimeConfig.macros) ---------------------

  readonly macros = {
    /** Secure macros come without their value. Sortable by `key`. */
    list: (configId: string, params: ListParams = {}): Promise<ListPage<MacroResource>> =>
      this.json({ method: 'GET', path: `/jobconfigs/${seg(configId)}/macros`, query: { ...params } }),
    get: (configId: string, name: string): Promise<MacroResource> =>
      this.json({ method: 'GET', path: `/jobconfigs/${seg(configId)}/macros/${seg(name)}` }),
    /** POST: `key` (or its alias `name`) is required; 409 when the configuration has it already. */
    create: (configId: string, request: MacroRequest): Promise<MacroResource> =>
      this.json({ method: 'POST', path: `/jobconfigs/${seg(configId)}/macros`, json: request }),
    /**
     * PUT: creates or replaces the macro `name`. A value left out keeps the stored one (a secure value
     * is write-only), `secure` left out keeps the stored flag.
     */
    replace: (configId: string, name: string, request: MacroRequest = {}): Promise<MacroResource> =>
      this.json({
        method: 'PUT',
        path: `/jobconfigs/${seg(configId)}/macros/${seg(name)}`,
        json: request,
      }),
    delete: (configId: string, name: string): Promise<void> =>
      this.none({ method: 'DELETE', path: `/jobconfigs/${seg(configId)}/macros/${seg(name)}` }),
    /**
     * POST …/macrobindings: confirms the configuration's secure values for the code it runs now, after
     * someone else changed its package or entry point (docs/security.md; owner or admin).
     */
    confirmBindings: (configId: string): Promise<MacroBindingConfirmation> =>
      this.json({ method: 'POST', path: `/jobconfigs/${seg(configId)}/macrobindings` }),
  };

  // ---- the schedule of a configuration ---------------------------------------------------------

  readonly schedules = {
    /** 404 when the configuration has no schedule. */
    get: (configId: string): Promise<ScheduleResponse> =>
      this.json({ method: 'GET', path: `/jobconfigs/${seg(configId)}/schedule` }),
    /** POST: 409 when the configuration has a schedule already. */
    create: (configId: string, request: ScheduleRequest): Promise<ScheduleResponse> =>
      this.json({ method: 'POST', path: `/jobconfigs/${seg(configId)}/schedule`, json: request }),
    /** PUT: creates or replaces the schedule; its next fire time is computed from now. */
    replace: (configId: string, request: ScheduleRequest): Promise<ScheduleResponse> =>
      this.json({ method: 'PUT', path: `/jobconfigs/${seg(configId)}/schedule`, json: request }),
    delete: (configId: string): Promise<void> =>
      this.none({ method: 'DELETE', path: `/jobconfigs/${seg(configId)}/schedule` }),
  };

  // ---- files -----------------------------------------------------------------------------------

  readonly files = {
    list: (configId: string, params: ListParams = {}): Promise<ListPage<FileResource>> =>
      this.json({ method: 'GET', path: `/jobconfigs/${seg(configId)}/files`, query: { ...params } }),
    /**
     * Stores `key` (creating or replacing it), streaming `source`; `onProgress` is told the bytes handed
     * to the connection so far.
     */
    upload: async (
      configId: string,
      key: string,
      source: Uint8Array | AsyncIterable<Uint8Array>,
      opts: UploadOptions = {},
    ): Promise<FileResource> => {
      const total = source instanceof Uint8Array ? source.byteLength : opts.size;
      const body = countingStream(source, total, opts.onProgress);
      return this.json({
        method: 'PUT',
        path: `/jobconfigs/${seg(configId)}/files/${seg(key)}`,
        body,
        headers: { 'content-type': opts.contentType ?? 'application/octet-stream' },
      });
    },
    /**
     * Stores `key` (creating or replacing it) with `POST …/files` as multipart/form-data (fields `key`,
     * then `file`), the way a browser form sends it. `file` is held in memory: for large files prefer
     * the streaming `upload`.
     */
    uploadMultipart: (
      configId: string,
      key: string,
      file: Blob | Uint8Array,
      opts: MultipartUploadOptions = {},
    ): Promise<FileResource> => {
      const blob =
        file instanceof Blob
          ? file
          : new Blob([file], { type: opts.contentType ?? 'application/octet-stream' });
      const form = new FormData();
      // The server reads the key before the file part: this order matters.
      form.append('key', key);
      form.append('file', blob, key);
      return this.json({ method: 'POST', path: `/jobconfigs/${seg(configId)}/files`, body: form });
    },
    download: async (configId: string, key: string): Promise<Download> =>
      toDownload(await this.send({ method: 'GET', path: `/jobconfigs/${seg(configId)}/files/${seg(key)}` })),
    delete: (configId: string, key: string): Promise<void> =>
      this.none({ method: 'DELETE', path: `/jobconfigs/${seg(configId)}/files/${seg(key)}` }),
  };

  // ---- jobs ------------------------------------------------------------------------------------

  readonly jobs = {
    /** Runs a configuration: the new job (QUEUED, or SEQUENCED behind a blocking one). */
    run: (configId: string, request: RunRequest = {}): Promise<Job> =>
      this.json({ method: 'POST', path: `/jobconfigs/${seg(configId)}/jobs`, json: request }),
    /** The jobs of one configuration. */
    listForConfig: (configId: string, params: ListParams = {}): Promise<ListPage<Job>> =>
      this.json({ method: 'GET', path: `/jobconfigs/${seg(configId)}/jobs`, query: { ...params } }),
    list: (params: JobListParams = {}): Promise<ListPage<Job>> => {
      const { status, ...rest } = params;
      return this.json({
        method: 'GET',
        path: '/jobs',
        query: { ...rest, status: Array.isArray(status) ? status.join(',') : status },
      });
    },
    get: (id: string): Promise<Job> => this.json({ method: 'GET', path: `/jobs/${seg(id)}` }),
    /** Cancels a waiting job (CANCELLED at once) or asks a running one to stop; answers the job. */
    cancel: (id: string): Promise<Job> => this.json({ method: 'DELETE', path: `/jobs/${seg(id)}` }),
    /** The log as text chunks; with `follow`, the stream lasts until the job ends. */
    log: async (id: string, opts: { follow?: boolean } = {}): Promise<AsyncIterable<string>> => {
      const res = await this.send({
        method: 'GET',
        path: `/jobs/${seg(id)}/log`,
        query: opts.follow ? { follow: 'true' } : {},
      });
      return textChunks(res);
    },
    /** The files the job wrote to its output directory (`GET /jobs/{id}/out/files`). */
    outputFiles: (id: string): Promise<ListPage<JobOutputFile>> =>
      this.json({ method: 'GET', path: `/jobs/${seg(id)}/out/files` }),
    /** One output file of the job, streamed. */
    downloadOutput: async (id: string, key: string): Promise<Download> =>
      toDownload(await this.send({ method: 'GET', path: `/jobs/${seg(id)}/out/files/${seg(key)}` })),
    /** The exact package the job ran (its last started attempt), streamed. */
    downloadPackage: async (id: string): Promise<Download> =>
      toDownload(await this.send({ method: 'GET', path: `/jobs/${seg(id)}/package` })),
    /** The whole log as one string (not following). */
    logText: async (id: string): Promise<string> => {
      let s = '';
      for await (const chunk of await this.jobs.log(id)) s += chunk;
      return s;
    },
  };

  // ---- users -----------------------------------------------------------------------------------

  readonly users = {
    /** The caller. */
    me: (): Promise<User> => this.json({ method: 'GET', path: '/user' }),
    list: (params: ListParams = {}): Promise<ListPage<User>> =>
      this.json({ method: 'GET', path: '/users', query: { ...params } }),
    get: (id: string): Promise<User> => this.json({ method: 'GET', path: `/users/${seg(id)}` }),
    create: (request: CreateUserRequest): Promise<User> =>
      this.json({ method: 'POST', path: '/users', json: request }),
    update: (id: string, request: UpdateUserRequest): Promise<User> =>
      this.json({ method: 'PUT', path: `/users/${seg(id)}`, json: request }),
    /** An admin resets a user's password; anyone changes their own with `currentPassword`. */
    setPassword: (id: string, request: { newPassword: string; currentPassword?: string }): Promise<void> =>
      this.none({ method: 'POST', path: `/users/${seg(id)}/password`, json: request }),
    /** The caller's account (tenant). */
    account: (): Promise<Account> => this.json({ method: 'GET', path: '/account' }),
  };

  // ---- accounts --------------------------------------------------------------------------------

  readonly accounts = {
    /**
     * A new account (tenant) with its first administrator; only administrators of the installation's
     * first account create accounts.
     */
    create: (request: CreateAccountRequest): Promise<CreatedAccount> =>
      this.json({ method: 'POST', path: '/accounts', json: request }),
  };

  // ---- audit trail -----------------------------------------------------------------------------

  readonly audit = {
    /** Audit events of the caller's account, newest first unless sorted otherwise (admins only). */
    list: (params: AuditParams = {}): Promise<ListPage<AuditEvent>> =>
      this.json({ method: 'GET', path: '/audit', query: { ...params } }),
  };

  // ---- plumbing --------------------------------------------------------------------------------

  private async setTokens(t: TokenResponse): Promise<Tokens> {
    this.tokens = {
      accessToken: t.access_token,
      refreshToken: t.refresh_token,
      expiresAt: this.now() + t.expires_in * 1000,
    };
    await this.onTokens?.(this.tokens);
    return this.tokens;
  }

  private async json<T>(spec: RequestSpec): Promise<T> {
    const res = await this.send(spec);
    return (await res.json()) as T;
  }

  private async none(spec: RequestSpec): Promise<void> {
    const res = await this.send(spec);
    await res.body?.cancel();
  }

  /** Sends a request; answers the response when it is 2xx, throws a ProblemError otherwise. */
  private async send(spec: RequestSpec): Promise<Response> {
    if (!spec.anonymous) {
      if (!this.tokens) throw notLoggedIn();
      if (!this.usable(this.tokens)) await this.refresh();
    }
    let res = await this.fetchOnce(spec);
    const replayable = !(spec.body instanceof ReadableStream);
    if (res.status === 401 && !spec.anonymous && replayable && this.tokens) {
      await res.body?.cancel();
      await this.refresh();
      res = await this.fetchOnce(spec);
    }
    if (!res.ok) throw await ProblemError.fromResponse(res);
    return res;
  }

  private fetchOnce(spec: RequestSpec): Promise<Response> {
    const url = new URL(this.baseUrl + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v === undefined) continue;
      url.searchParams.set(k, Array.isArray(v) ? v.join(',') : String(v));
    }
    const headers: Record<string, string> = { accept: 'application/json', ...spec.headers };
    if (!spec.anonymous && this.tokens) headers.authorization = `Bearer ${this.tokens.accessToken}`;
    let body: RequestInit['body'];
    if (spec.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.json);
    } else if (spec.body !== undefined) {
      body = spec.body;
    }
    const init: RequestInit & { duplex?: 'half' } = { method: spec.method, headers };
    if (body !== undefined) {
      init.body = body;
      if (body instanceof ReadableStream) init.duplex = 'half';
    }
    return this.fetchFn(url, init);
  }
}

function toDownload(res: Response): Download {
  if (!res.body) throw new Error('the download answered no body');
  const len = res.headers.get('content-length');
  return {
    body: res.body,
    size: len === null ? undefined : Number(len),
    contentType: res.headers.get('content-type') ?? undefined,
    etag: res.headers.get('etag') ?? undefined,
  };
}

function notLoggedIn(): ProblemError {
  return new ProblemError({
    status: 401,
    code: 'NOT_LOGGED_IN',
    title: 'Not logged in',
    detail: 'There is no session: log in first.',
  });
}

/** A stream over `source` that reports the bytes pulled from it. */
function countingStream(
  source: Uint8Array | AsyncIterable<Uint8Array>,
  total: number | undefined,
  onProgress: UploadOptions['onProgress'],
): ReadableStream<Uint8Array> {
  const iterable: AsyncIterable<Uint8Array> =
    source instanceof Uint8Array ? chunksOf(source, 64 * 1024) : source;
  let it: AsyncIterator<Uint8Array> | undefined;
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    start() {
      onProgress?.(0, total);
    },
    async pull(controller) {
      it ??= iterable[Symbol.asyncIterator]();
      const next = await it.next();
      if (next.done) {
        controller.close();
        return;
      }
      const chunk = next.value;
      sent += chunk.byteLength;
      controller.enqueue(chunk);
      onProgress?.(sent, total);
    },
    async cancel(reason) {
      await it?.return?.(reason);
    },
  });
}

async function* chunksOf(buf: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.byteLength; i += size) yield buf.subarray(i, Math.min(i + size, buf.byteLength));
}

async function* textChunks(res: Response): AsyncGenerator<string> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  // Node's web streams are async iterable; breaking out of the loop cancels the body.
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const s = decoder.decode(chunk, { stream: true });
    if (s) yield s;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}
