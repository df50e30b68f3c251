import { buildOpenApiDocument } from '@im/contracts';
import { ImClient } from './client';

/**
 * The client against the OpenAPI document generated from the contract: every request it can make is
 * an operation of the document, and every operation of the document is either covered by the client
 * or listed below as not covered yet, so a new route forces a decision here.
 */
const NOT_COVERED = [
  // The token signing keys, for verifiers rather than API clients; the contract has no exported type for them.
  'get /.well-known/jwks.json',
  // Server-sent events for the web console's jobs table (services/console).
  'get /jobs/events',
];

/** Served (docs/api.md) but missing from the OpenAPI document; the client calls them all the same. */
const NOT_IN_THE_DOCUMENT: string[] = [];

describe('the client and the OpenAPI document', () => {
  const doc = buildOpenApiDocument({ version: 'test', serverUrl: 'http://localhost/api' }) as unknown as {
    paths: Record<string, Record<string, unknown>>;
  };
  const operations = Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops).map((m) => `${m} ${p}`),
  );
  const paths = [...Object.keys(doc.paths), ...NOT_IN_THE_DOCUMENT.map((o) => o.split(' ')[1]!)];
  const templates = paths.map((p) => ({
    p,
    re: new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));

  /** Every client method once, against a fake server that answers anything; the operations it hit. */
  async function exercise(): Promise<string[]> {
    const hit: string[] = [];
    const fetchFn = (async (input: string | URL | Request, init: RequestInit = {}) => {
      const url = new URL(String(input instanceof Request ? input.url : input));
      if (init.body instanceof ReadableStream) await new Response(init.body).arrayBuffer();
      const rel = url.pathname.replace(/^\/api/, '');
      const t = templates.find((x) => x.re.test(rel));
      hit.push(`${(init.method ?? 'GET').toLowerCase()} ${t ? t.p : `(none) ${rel}`}`);
      if (rel === '/login' || rel === '/login/refresh')
        return Response.json({ access_token: 'a', token_type: 'bearer', refresh_token: 'r', expires_in: 60 });
      return Response.json({});
    }) as typeof fetch;
    const c = new ImClient({ baseUrl: 'http://h', fetch: fetchFn });
    await c.productInfo();
    await c.login('u', 'p');
    await c.refresh();
    await c.jobConfigs.list();
    await c.jobConfigs.get('1');
    await c.jobConfigs.create({ name: 'n' });
    await c.jobConfigs.replace('1', { name: 'n' });
    await c.jobConfigs.update('1', {});
    await c.jobConfigs.delete('1');
    await c.jobConfigs.entryPoints('1');
    await c.jobConfigs.entryPoints('1', 'p.djar');
    await c.files.list('1');
    await c.files.upload('1', 'k', new Uint8Array([1, 2]));
    await c.files.uploadMultipart('1', 'k', new Uint8Array([1, 2]));
    await c.files.download('1', 'k');
    await c.files.delete('1', 'k');
    await c.jobs.run('1');
    await c.jobs.list();
    await c.jobs.get('j');
    await c.jobs.cancel('j');
    await c.jobs.logText('j');
    await c.jobs.outputFiles('j');
    await c.jobs.downloadOutput('j', 'summary.json');
    await c.jobs.downloadPackage('j');
    await c.users.me();
    await c.users.list();
    await c.users.get('1');
    await c.users.create({ name: 'n', password: 'p' });
    await c.users.update('1', {});
    await c.users.setPassword('1', { newPassword: 'p' });
    await c.users.account();
    await c.jobs.listForConfig('1');
    await c.macros.list('1');
    await c.macros.get('1', 'M');
    await c.macros.create('1', { key: 'M', value: 'v' });
    await c.macros.replace('1', 'M', { value: 'v' });
    await c.macros.delete('1', 'M');
    await c.macros.confirmBindings('1');
    await c.schedules.get('1');
    await c.schedules.create('1', { type: 'interval', intervalFrequency: 'PT5M' });
    await c.schedules.replace('1', { type: 'cron', cronSchedule: '0 0 6 ? * MON-FRI' });
    await c.schedules.delete('1');
    await c.accounts.create({ name: 'a', admin: { name: 'n', password: 'p' } });
    await c.audit.list({ action: 'login.failed' });
    await c.logout();
    return hit;
  }

  it('makes only requests the document describes (or that are listed as missing from it)', async () => {
    const hit = await exercise();
    for (const h of hit) expect([...operations, ...NOT_IN_THE_DOCUMENT]).toContain(h);
    // Once the document has them, they leave the list.
    for (const o of NOT_IN_THE_DOCUMENT) expect(operations).not.toContain(o);
  });

  it('covers every operation but those listed as not covered yet', async () => {
    const hit = new Set(await exercise());
    const uncovered = operations.filter((o) => !hit.has(o));
    expect(uncovered.sort()).toEqual([...NOT_COVERED].sort());
  });
});
