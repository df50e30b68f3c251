import { S3ObjectStorage } from '@im/storage';
import {
  buildZip,
  infraEnv,
  startDistributed,
  uniqueName,
  waitFor,
  type DistributedPlatform,
} from '@im/testing';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { client, type Api } from './http';

const repoRoot = path.resolve(__dirname, '..');

/** Builds examples/<name> with the examples' own build script and returns the package bytes. */
function buildExample(name: string): Buffer {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'im-example-')), `${name}.djar`);
  const r = spawnSync(
    process.execPath,
    [path.join(repoRoot, 'examples', 'build-package.mjs'), path.join(repoRoot, 'examples', name), out],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`building ${name} failed: ${r.stderr}`);
  return fs.readFileSync(out);
}

/**
 * The example packages run through the API on the distributed platform (PostgreSQL, Kafka, S3), each
 * with its effect checked where it lands: rows in a table, an object's content, an output file.
 */
describe('example packages', () => {
  let platform: DistributedPlatform;
  let api: Api;
  let token: string;

  beforeAll(async () => {
    // csv-to-postgres loads into the PostgreSQL of scripts/infra, on this host's loopback: jobs get the
    // host's network here (JOBS_NETWORK=host, trusted packages only), as an operator would configure it
    // for packages that must reach a database on the runner's own host.
    platform = await startDistributed({ env: { '*': { JOBS_NETWORK: 'host' } } });
    api = client(platform.url);
    token = (
      await api('POST', '/api/login', { json: { username: 'admin', password: platform.adminPassword } })
    ).json.access_token;
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
  });

  /** Creates a configuration with the example's package and entry point; returns its id. */
  const configure = async (example: string, entryPoint: string, extra: Record<string, unknown> = {}) => {
    const c = await api('POST', '/api/jobconfigs', { token, json: { name: example, ...extra } });
    expect(c.status).toBe(201);
    const up = await api('POST', `/api/jobconfigs/${c.json.id}/files?key=${example}.djar`, {
      token,
      body: buildExample(example),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(up.status).toBe(201);
    const put = await api('PATCH', `/api/jobconfigs/${c.json.id}`, {
      token,
      json: { runtimeConfig: { packageName: `${example}.djar`, entryPoint } },
    });
    expect(put.status).toBe(200);
    return c.json.id as string;
  };

  const runToEnd = async (
    configId: string,
    macros: { key: string; value: string; secure?: boolean }[] = [],
  ) => {
    const run = await api('POST', `/api/jobconfigs/${configId}/jobs`, {
      token,
      json: { runtimeConfig: { macros: macros.map((m) => ({ secure: false, ...m })) } },
    });
    expect(run.status).toBe(202);
    const job = await waitFor(
      async () => {
        const r = await api('GET', `/api/jobs/${run.json.id}`, { token });
        return ['FINISHED', 'ERROR', 'FAILED'].includes(r.json.status) ? r.json : undefined;
      },
      { timeoutMs: 90_000, what: `job ${run.json.id} to end` },
    );
    const log = (await api('GET', `/api/jobs/${run.json.id}/log`, { token })).text;
    return { job, log };
  };

  it('csv-to-postgres: filters, maps and upserts the CSV rows into a table, twice without duplicates', async () => {
    const infra = infraEnv();
    const table = uniqueName('customers');
    const id = await configure('csv-to-postgres', 'load-customers.process');
    const macros = [
      { key: 'PG_URL', value: infra.pgUrl, secure: true },
      { key: 'TABLE', value: table },
    ];
    const first = await runToEnd(id, macros);
    expect(first.job.status).toBe('FINISHED');
    const password = new URL(infra.pgUrl).password;
    expect(first.log).not.toContain(password);
    expect((await runToEnd(id, macros)).job.status).toBe('FINISHED');
    const pg = new Client({ connectionString: infra.pgUrl });
    await pg.connect();
    try {
      const rows = (await pg.query(`select id, name, email, country from ${table} order by id`)).rows;
      expect(rows).toEqual([
        { id: 1, name: 'Ada Lovelace', email: 'ada@example.com', country: 'GB' },
        { id: 3, name: 'Grace Hopper', email: 'grace@example.com', country: 'US' },
        { id: 4, name: 'Edsger Dijkstra', email: 'edsger@example.com', country: 'NL' },
        { id: 5, name: 'Barbara Liskov', email: 'barbara@example.com', country: 'US' },
      ]);
    } finally {
      await pg.query(`drop table if exists ${table}`);
      await pg.end();
    }
  });

  it('http-to-object: pages through an HTTP API and writes JSON Lines to object storage', async () => {
    const pages: Record<string, { items: unknown[]; next?: string | null }> = {};
    const server = http.createServer((req, res) => {
      if (req.headers.authorization !== 'Bearer api-secret-123') {
        res.writeHead(401).end();
        return;
      }
      const page = pages[new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '1'];
      res.writeHead(page ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(page ?? {}));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
    pages['1'] = {
      items: [
        { id: 1, customer: { name: 'Ada' }, amount: 2.5, quantity: 4 },
        { id: 2, customer: { name: 'Alan' }, amount: 1.333, quantity: 3 },
      ],
      next: `${base}?page=2`,
    };
    pages['2'] = { items: [{ id: 3, customer: { name: 'Grace' }, amount: 10, quantity: 1 }], next: null };
    try {
      const infra = infraEnv();
      const key = `${uniqueName('exports')}/orders.jsonl`;
      const id = await configure('http-to-object', 'fetch-orders.process');
      const { job, log } = await runToEnd(id, [
        { key: 'API_URL', value: `${base}?page=1` },
        { key: 'API_TOKEN', value: 'api-secret-123', secure: true },
        { key: 'BUCKET', value: infra.s3.bucket },
        { key: 'OBJECT_KEY', value: key },
      ]);
      expect(job.status).toBe('FINISHED');
      expect(log).not.toContain('api-secret-123');
      const s3 = new S3ObjectStorage({ ...infra.s3, forcePathStyle: true });
      const obj = await s3.get(key);
      expect(obj).not.toBeNull();
      let text = '';
      for await (const c of obj!.body) text += (c as Buffer).toString();
      expect(
        text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)),
      ).toEqual([
        { id: 1, customer: 'Ada', total: 10 },
        { id: 2, customer: 'Alan', total: 4 },
        { id: 3, customer: 'Grace', total: 10 },
      ]);
      await s3.delete(key);
      await s3.close();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('macro-script: reads macros (manifest default, configuration, run request) and writes an output file', async () => {
    const id = await configure('macro-script', 'greet.mjs', {
      runtimeConfig: { macros: [{ key: 'RECIPIENT', value: 'Ada' }] },
    });
    // The configuration (PATCH above) kept its macros; the run overrides the manifest's GREETING default.
    const withDefault = await runToEnd(id);
    expect(withDefault.job.status).toBe('FINISHED');
    const first = await api('GET', `/api/jobs/${withDefault.job.id}/out/files/greeting.txt`, { token });
    expect(first.text).toBe(`Hello, Ada! (job ${withDefault.job.id})\n`);
    const overridden = await runToEnd(id, [{ key: 'GREETING', value: 'Welcome' }]);
    const second = await api('GET', `/api/jobs/${overridden.job.id}/out/files/greeting.txt`, { token });
    expect(second.text).toBe(`Welcome, Ada! (job ${overridden.job.id})\n`);
  });

  it("ends a job past its configuration's timeout as FAILED with reason timeout", async () => {
    const c = await api('POST', '/api/jobconfigs', { token, json: { name: 'slow', timeout: 1 } });
    const slow = await buildZip({
      'slow.mjs': `export default async () => { await new Promise((r) => setTimeout(r, 10 * 60_000)); };`,
    });
    await api('POST', `/api/jobconfigs/${c.json.id}/files?key=slow.djar`, {
      token,
      body: slow,
      headers: { 'content-type': 'application/octet-stream' },
    });
    await api('PATCH', `/api/jobconfigs/${c.json.id}`, {
      token,
      json: { runtimeConfig: { packageName: 'slow.djar', entryPoint: 'slow.mjs' } },
    });
    const { job, log } = await runToEnd(c.json.id as string);
    expect(job).toMatchObject({ status: 'FAILED', reason: 'timeout' });
    expect(job.duration).toBeGreaterThanOrEqual(60_000);
    expect(log).toMatch(/timeout/i);
  }, 150_000);
});
