import { apiBase, ImClient } from './client';
import { ProblemError } from './problem.error';
import type { Tokens } from './types';

interface Call {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A fake fetch answering from a queue of handlers and recording each call (the body read whole). */
function fakeFetch(...answers: Array<(call: Call) => Response>) {
  const calls: Call[] = [];
  const fn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let body: string | undefined;
    if (init?.body instanceof ReadableStream) body = await new Response(init.body).text();
    else if (typeof init?.body === 'string') body = init.body;
    const call: Call = {
      method: init?.method ?? 'GET',
      url: new URL(String(input instanceof Request ? input.url : input)),
      headers: (init?.headers ?? {}) as Record<string, string>,
      body,
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
});
