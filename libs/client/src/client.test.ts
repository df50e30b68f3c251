import { apiBase, ImClient } from './client';
import { ProblemError } from './problem.error';
import type { Tokens } from './types';

interface Call {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
  /** The body when it is a FormData (multipart). */
  form: FormData | undefined;
}

/** A fake fetch answering from a queue of handlers and recording each call (the body read whole). */
function fakeFetch(...answers: Array<(call: Call) => Response>) {
  const calls: Call[] = [];
  const fn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let body: string | undefined;
    const form = init?.body instanceof FormData ? init.body : undefined;
    if (init?.body instanceof ReadableStream) body = await new Response(init.body).text();
    else if (typeof init?.body === 'string') body = init.body;
    const call: Call = {
      method: init?.method ?? 'GET',
      url: new URL(String(input instanceof Request ? input.url : input)),
      headers: (init?.headers ?? {}) as Record<string, string>,
      body,
      form,
    };
    calls.push(call);
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected call ${call.method} ${call.url.toString()}`);
    return answer(call);
  };
  return { fn, calls };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const problem = (status: number, code: string, detail: string, extra: object = {}) =>
  new Response(JSON.stringify({ type: 'about:blank', title: 'Problem', status, code, detail, ...extra }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
const tokenAnswer = (n: number) => () =>
  json(200, { access_token: `a${n}`, token_type: 'bearer', refresh_token: `r${n}`, expires_in: 3600 });

const NOW = 1_800_000_000_000;
const fresh: Tokens = { accessToken: 'a0', refreshToken: 'r0', expiresAt: NOW + 3_600_000 };

describe('apiBase', () => {
  it('appends /api once and drops trailing slashes', () => {
    expect(apiBase('http://h:8080')).toBe('http://h:8080/api');
    expect(apiBase('http://h:8080/')).toBe('http://h:8080/api');
    expect(apiBase('http://h:8080/api/')).toBe('http://h:8080/api');
    expect(apiBase('https://h/im/api')).toBe('https://h/im/api');
  });
});

describe('ImClient', () => {
  it('logs in, keeps the tokens with their expiry and reports them', async () => {
    const f = fakeFetch(tokenAnswer(1));
    const seen: Array<Tokens | undefined> = [];
    const c = new ImClient({
      baseUrl: 'http://h',
      fetch: f.fn,
      now: () => NOW,
      onTokens: (t) => void seen.push(t),
    });
    const t = await c.login('admin', 'secret-password');
    expect(t).toEqual({ accessToken: 'a1', refreshToken: 'r1', expiresAt: NOW + 3_600_000 });
    expect(seen).toEqual([t]);
    expect(f.calls[0]!.method).toBe('POST');
    expect(f.calls[0]!.url.pathname).toBe('/api/login');
    expect(JSON.parse(f.calls[0]!.body!)).toEqual({ username: 'admin', password: 'secret-password' });
    expect(f.calls[0]!.headers.authorization).toBeUndefined();
  });

  it('sends the bearer token and the list query', async () => {
    const page = {
      totalRecords: 0,
      totalPages: 0,
      size: 5,
      pageNumber: 1,
      items: [],
      links: { prev: null, next: null },
    };
    const f = fakeFetch(
      () => json(200, page),
      () => json(200, page),
    );
    const c = new ImClient({ baseUrl: 'http://h/api', fetch: f.fn, now: () => NOW, tokens: fresh });
    await expect(c.jobConfigs.list({ offset: 1, size: 5 })).resolves.toEqual(page);
    expect(f.calls[0]!.headers.authorization).toBe('Bearer a0');
    expect(f.calls[0]!.url.search).toBe('?offset=1&size=5');
    await c.jobs.list({ status: ['FAILED', 'ERROR'], jobconfigid: '7' });
    expect(f.calls[1]!.url.searchParams.get('status')).toBe('FAILED,ERROR');
    expect(f.calls[1]!.url.searchParams.get('jobconfigid')).toBe('7');
  });

  it('refreshes an expired access token before the request', async () => {
    const f = fakeFetch(tokenAnswer(2), () => json(200, { id: '1' }));
    const seen: Array<Tokens | undefined> = [];
    const c = new ImClient({
      baseUrl: 'http://h',
      fetch: f.fn,
      now: () => NOW,
      tokens: { ...fresh, expiresAt: NOW - 1 },
      onTokens: (t) => void seen.push(t),
    });
    await c.jobConfigs.get('1');
    expect(f.calls[0]!.url.pathname).toBe('/api/login/refresh');
    expect(JSON.parse(f.calls[0]!.body!)).toEqual({ refresh_token: 'r0' });
    expect(f.calls[1]!.headers.authorization).toBe('Bearer a2');
    expect(seen[0]?.refreshToken).toBe('r2');
  });

  it('refreshes once and retries when the server says the token expired', async () => {
    const f = fakeFetch(
      () => problem(401, 'UNAUTHENTICATED', 'The access token has expired.'),
      tokenAnswer(3),
      () => json(200, { id: '1' }),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    await expect(c.jobConfigs.get('1')).resolves.toEqual({ id: '1' });
    expect(f.calls.map((x) => x.url.pathname)).toEqual([
      '/api/jobconfigs/1',
      '/api/login/refresh',
      '/api/jobconfigs/1',
    ]);
    expect(f.calls[2]!.headers.authorization).toBe('Bearer a3');
  });

  it('takes a session another process refreshed instead of refreshing again', async () => {
    const f = fakeFetch(() => json(200, { id: '1' }));
    const stored: Tokens = { accessToken: 'a9', refreshToken: 'r9', expiresAt: NOW + 3_600_000 };
    const c = new ImClient({
      baseUrl: 'http://h',
      fetch: f.fn,
      now: () => NOW,
      tokens: { ...fresh, expiresAt: NOW - 1 },
      reloadTokens: () => stored,
    });
    await c.jobConfigs.get('1');
    expect(f.calls.map((x) => x.url.pathname)).toEqual(['/api/jobconfigs/1']);
    expect(f.calls[0]!.headers.authorization).toBe('Bearer a9');
  });

  it('when its refresh is refused because another process rotated the token, takes the stored session', async () => {
    let stored: Tokens = { ...fresh, expiresAt: NOW - 1 };
    const f = fakeFetch(
      () => {
        // Another process refreshed in between: the refresh token this one sends was rotated.
        stored = { accessToken: 'a7', refreshToken: 'r7', expiresAt: NOW + 3_600_000 };
        return problem(401, 'UNAUTHENTICATED', 'The refresh token is not valid.');
      },
      () => json(200, { id: '1' }),
    );
    const c = new ImClient({
      baseUrl: 'http://h',
      fetch: f.fn,
      now: () => NOW,
      tokens: stored,
      reloadTokens: () => stored,
    });
    await c.jobConfigs.get('1');
    expect(f.calls.map((x) => x.url.pathname)).toEqual(['/api/login/refresh', '/api/jobconfigs/1']);
    expect(f.calls[1]!.headers.authorization).toBe('Bearer a7');
  });

  it('reports a refused refresh when nobody rotated the token', async () => {
    const f = fakeFetch(() => problem(401, 'UNAUTHENTICATED', 'The refresh token is not valid.'));
    const c = new ImClient({
      baseUrl: 'http://h',
      fetch: f.fn,
      now: () => NOW,
      tokens: { ...fresh, expiresAt: NOW - 1 },
      reloadTokens: () => ({ ...fresh, expiresAt: NOW - 1 }),
    });
    await expect(c.jobConfigs.get('1')).rejects.toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('throws a ProblemError carrying status, code, detail and the field errors', async () => {
    const f = fakeFetch(() =>
      problem(400, 'VALIDATION_FAILED', 'The request body is not valid: name: must not be empty.', {
        errors: [{ path: 'name', message: 'must not be empty' }],
        requestId: 'req-1',
      }),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    const err = await c.jobConfigs.create({ name: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemError);
    expect(err).toMatchObject({
      status: 400,
      code: 'VALIDATION_FAILED',
      detail: 'The request body is not valid: name: must not be empty.',
      errors: [{ path: 'name', message: 'must not be empty' }],
      requestId: 'req-1',
    });
  });

  it('turns an answer that is not problem+json into a ProblemError with code HTTP_<status>', async () => {
    const f = fakeFetch(
      () => new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    await expect(c.jobs.get('x')).rejects.toMatchObject({
      status: 502,
      code: 'HTTP_502',
      detail: 'Bad Gateway',
    });
  });

  it('refuses authenticated calls without a session, without calling the server', async () => {
    const f = fakeFetch();
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn });
    await expect(c.jobs.list()).rejects.toMatchObject({ code: 'NOT_LOGGED_IN' });
    expect(f.calls).toHaveLength(0);
  });

  it('uploads a stream with PUT and reports progress up to the total', async () => {
    const f = fakeFetch((call) =>
      json(201, { name: 'p.djar', href: 'x', metadata: { size: call.body!.length } }),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    async function* source() {
      yield Buffer.from('hello ');
      yield Buffer.from('world');
    }
    const progress: Array<[number, number | undefined]> = [];
    const r = await c.files.upload('7', 'p.djar', source(), {
      size: 11,
      onProgress: (s, t) => progress.push([s, t]),
    });
    expect(r.metadata.size).toBe(11);
    expect(f.calls[0]!.method).toBe('PUT');
    expect(f.calls[0]!.url.pathname).toBe('/api/jobconfigs/7/files/p.djar');
    expect(f.calls[0]!.headers['content-type']).toBe('application/octet-stream');
    expect(f.calls[0]!.body).toBe('hello world');
    expect(progress).toEqual([
      [0, 11],
      [6, 11],
      [11, 11],
    ]);
  });

  it('downloads as a stream with its size', async () => {
    const f = fakeFetch(
      () => new Response('bytes!', { status: 200, headers: { 'content-length': '6', etag: '"e"' } }),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    const d = await c.files.download('7', 'a b.txt');
    expect(f.calls[0]!.url.pathname).toBe('/api/jobconfigs/7/files/a%20b.txt');
    expect(d.size).toBe(6);
    expect(d.etag).toBe('"e"');
    expect(await new Response(d.body).text()).toBe('bytes!');
  });

  it('streams a followed log chunk by chunk', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(ctl) {
        ctl.enqueue(new TextEncoder().encode('line 1\n'));
        ctl.enqueue(new TextEncoder().encode('line 2\n'));
        ctl.close();
      },
    });
    const f = fakeFetch(() => new Response(body, { status: 200 }));
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    const chunks: string[] = [];
    for await (const s of await c.jobs.log('j1', { follow: true })) chunks.push(s);
    expect(f.calls[0]!.url.search).toBe('?follow=true');
    expect(chunks.join('')).toBe('line 1\nline 2\n');
  });

  it('runs, cancels, and manages users on their routes', async () => {
    const f = fakeFetch(
      () => json(202, { id: 'j1', status: 'QUEUED' }),
      () => json(202, { id: 'j1', status: 'CANCELLED' }),
      () => json(201, { id: '5' }),
      () => json(200, { id: '5' }),
      () => new Response(null, { status: 204 }),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    await c.jobs.run('7', { runtimeConfig: { logLevel: 'DEBUG' } });
    await expect(c.jobs.cancel('j1')).resolves.toMatchObject({ status: 'CANCELLED' });
    await c.users.create({ name: 'bob', password: 'a-long-password-1' });
    await c.users.update('5', { active: false });
    await c.logout();
    expect(f.calls.map((x) => `${x.method} ${x.url.pathname}`)).toEqual([
      'POST /api/jobconfigs/7/jobs',
      'DELETE /api/jobs/j1',
      'POST /api/users',
      'PUT /api/users/5',
      'POST /api/logout',
    ]);
    expect(c.session).toBeUndefined();
  });

  it('manages macros on their routes and answers them typed', async () => {
    const macro = { key: 'CUSTOMER', name: 'CUSTOMER', href: 'h/CUSTOMER', value: 'acme', secure: false };
    const page = {
      totalRecords: 1,
      totalPages: 1,
      size: 10,
      pageNumber: 0,
      items: [macro],
      links: { prev: null, next: null },
    };
    const f = fakeFetch(
      () => json(200, page),
      () => json(200, macro),
      () => json(201, macro),
      () => json(200, { ...macro, secure: true, value: null }),
      () => new Response(null, { status: 204 }),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    const list = await c.macros.list('7', { size: 10, sortby: 'key' });
    expect(list.items[0]!.key).toBe('CUSTOMER');
    await expect(c.macros.get('7', 'CUSTOMER')).resolves.toEqual(macro);
    const created = await c.macros.create('7', { key: 'CUSTOMER', value: 'acme' });
    expect(created.href).toBe('h/CUSTOMER');
    const replaced = await c.macros.replace('7', 'A.B', { secure: true });
    expect(replaced.secure).toBe(true);
    await expect(c.macros.delete('7', 'CUSTOMER')).resolves.toBeUndefined();
    expect(f.calls.map((x) => `${x.method} ${x.url.pathname}${x.url.search}`)).toEqual([
      'GET /api/jobconfigs/7/macros?size=10&sortby=key',
      'GET /api/jobconfigs/7/macros/CUSTOMER',
      'POST /api/jobconfigs/7/macros',
      'PUT /api/jobconfigs/7/macros/A.B',
      'DELETE /api/jobconfigs/7/macros/CUSTOMER',
    ]);
    expect(JSON.parse(f.calls[2]!.body!)).toEqual({ key: 'CUSTOMER', value: 'acme' });
    expect(f.calls[2]!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(f.calls[3]!.body!)).toEqual({ secure: true });
  });

  it('manages the schedule of a configuration', async () => {
    const schedule = {
      href: 'h/schedule',
      name: null,
      type: 'cron',
      cronSchedule: '0 0 6 ? * MON-FRI',
      intervalFrequency: null,
      nextFireTime: '2026-11-30T05:00:00.000Z',
      description: null,
      timeZone: 'Europe/Berlin',
      timeZoneDisplayName: 'Central European Time',
      timeZoneOffset: '+01:00',
      misfirePolicy: 'fire-once',
      resourceId: '7',
      resourceType: 'jobconfig',
    };
    const f = fakeFetch(
      () => json(201, schedule),
      () => json(200, schedule),
      () => json(200, schedule),
      () => new Response(null, { status: 204 }),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    const request = { type: 'cron', cronSchedule: '0 0 6 ? * MON-FRI', timeZone: 'Europe/Berlin' } as const;
    const created = await c.schedules.create('7', request);
    expect(created.nextFireTime).toBe('2026-11-30T05:00:00.000Z');
    await c.schedules.replace('7', { type: 'interval', intervalFrequency: 'PT15M', misfirePolicy: 'skip' });
    await expect(c.schedules.get('7')).resolves.toEqual(schedule);
    await c.schedules.delete('7');
    expect(f.calls.map((x) => `${x.method} ${x.url.pathname}`)).toEqual([
      'POST /api/jobconfigs/7/schedule',
      'PUT /api/jobconfigs/7/schedule',
      'GET /api/jobconfigs/7/schedule',
      'DELETE /api/jobconfigs/7/schedule',
    ]);
    expect(JSON.parse(f.calls[0]!.body!)).toEqual(request);
    expect(JSON.parse(f.calls[1]!.body!)).toEqual({
      type: 'interval',
      intervalFrequency: 'PT15M',
      misfirePolicy: 'skip',
    });
  });

  it('turns a problem answer of the new routes into a ProblemError', async () => {
    const f = fakeFetch(
      () => problem(404, 'NOT_FOUND', 'The configuration has no schedule.'),
      () => problem(409, 'CONFLICT', 'The configuration has a macro with this key already.'),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    const err = await c.schedules.get('7').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemError);
    expect(err).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      detail: 'The configuration has no schedule.',
    });
    await expect(c.macros.create('7', { key: 'CUSTOMER' })).rejects.toMatchObject({
      name: 'ProblemError',
      status: 409,
      code: 'CONFLICT',
    });
  });

  it('creates an account and lists the audit trail with its filters', async () => {
    const user = { id: '9', name: 'boss' };
    const account = { id: '3', name: 'acme', href: 'h/3', created: 't', lastModified: 't', admin: user };
    const event = {
      id: 'e1',
      time: '2026-11-28T10:00:00.000Z',
      actor: null,
      accountId: null,
      action: 'login.failed',
      resource: null,
      outcome: 'failure',
      sourceIp: '10.0.0.1',
      requestId: 'req-1',
      service: 'auth',
      details: { name: 'bob' },
    };
    const page = {
      totalRecords: 1,
      totalPages: 1,
      size: 50,
      pageNumber: 2,
      items: [event],
      links: { prev: null, next: null },
    };
    const f = fakeFetch(
      () => json(201, account),
      () => json(200, page),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    const request = { name: 'acme', admin: { name: 'boss', password: 'a-long-password-1' } };
    const created = await c.accounts.create(request);
    expect(created.admin.name).toBe('boss');
    expect(f.calls[0]!.method).toBe('POST');
    expect(f.calls[0]!.url.pathname).toBe('/api/accounts');
    expect(JSON.parse(f.calls[0]!.body!)).toEqual(request);
    const audit = await c.audit.list({
      offset: 2,
      size: 50,
      action: 'login.failed',
      outcome: 'failure',
      actorId: undefined,
      from: '2026-11-01T00:00:00Z',
      to: '2026-12-01T00:00:00Z',
    });
    expect(audit.items[0]!.action).toBe('login.failed');
    expect(f.calls[1]!.method).toBe('GET');
    expect(f.calls[1]!.url.pathname).toBe('/api/audit');
    expect(f.calls[1]!.url.search).toBe(
      '?offset=2&size=50&action=login.failed&outcome=failure&from=2026-11-01T00%3A00%3A00Z&to=2026-12-01T00%3A00%3A00Z',
    );
  });

  it('uploads as multipart/form-data with POST: the key field, then the file', async () => {
    const resource = { name: 'a b.djar', href: 'x', metadata: { size: 5 } };
    const f = fakeFetch(
      () => json(201, resource),
      () => json(200, resource),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    const r = await c.files.uploadMultipart('7', 'a b.djar', new TextEncoder().encode('hello'));
    expect(r.metadata.size).toBe(5);
    const call = f.calls[0]!;
    expect(call.method).toBe('POST');
    expect(call.url.pathname).toBe('/api/jobconfigs/7/files');
    expect(call.url.search).toBe('');
    // fetch sets the multipart content type with its boundary.
    expect(call.headers['content-type']).toBeUndefined();
    expect(call.headers.authorization).toBe('Bearer a0');
    expect([...call.form!.keys()]).toEqual(['key', 'file']);
    expect(call.form!.get('key')).toBe('a b.djar');
    const file = call.form!.get('file') as File;
    expect(file.name).toBe('a b.djar');
    expect(file.type).toBe('application/octet-stream');
    expect(await file.text()).toBe('hello');
    // What goes on the wire.
    const wire = new Request('http://h', { method: 'POST', body: call.form });
    expect(wire.headers.get('content-type')).toMatch(/^multipart\/form-data; boundary=/);
    const text = await wire.text();
    expect(text.indexOf('name="key"')).toBeLessThan(text.indexOf('name="file"'));

    await c.files.uploadMultipart('7', 'notes.txt', new Blob(['hi'], { type: 'text/plain' }));
    const blob = f.calls[1]!.form!.get('file') as File;
    expect(blob.type).toBe('text/plain');
    expect(await blob.text()).toBe('hi');
  });

  it('sends a multipart upload again after a refresh when the token had expired', async () => {
    const f = fakeFetch(
      () => problem(401, 'UNAUTHENTICATED', 'The access token has expired.'),
      tokenAnswer(4),
      () => json(201, { name: 'k', href: 'x', metadata: { size: 2 } }),
    );
    const c = new ImClient({ baseUrl: 'http://h', fetch: f.fn, now: () => NOW, tokens: fresh });
    await c.files.uploadMultipart('7', 'k', new Uint8Array([1, 2]));
    expect(f.calls.map((x) => `${x.method} ${x.url.pathname}`)).toEqual([
      'POST /api/jobconfigs/7/files',
      'POST /api/login/refresh',
      'POST /api/jobconfigs/7/files',
    ]);
    expect(f.calls[2]!.headers.authorization).toBe('Bearer a4');
    expect(f.calls[2]!.form!.get('key')).toBe('k');
  });
});
