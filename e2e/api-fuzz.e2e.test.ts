import { buildSamplePackage } from '@im/testing';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { client } from './http';
import { standaloneDriver } from './platforms';

/**
 * Property-based API testing with schemathesis (PyPI) against the OpenAPI document the platform
 * serves, authenticated as the admin: every operation of the document is called with generated
 * valid and invalid input (examples, coverage, fuzzing and stateful phases). Fails on any 5xx answer
 * and on any answer the document does not describe (status code, content type, body schema).
 * Requests go through a counting proxy, so the number sent and every status seen are printed, and
 * 5xx answers are counted independently of schemathesis.
 *
 * Schemathesis is installed into .tools/schemathesis (a Python venv) on the first run.
 */
const SCHEMATHESIS = '4.32.5';
const root = path.resolve(__dirname, '..');
const venv = path.join(root, '.tools', 'schemathesis');
const st = path.join(venv, 'bin', 'st');
/** Time budget of the schemathesis run itself (s); the phases share it. */
const MAX_TIME_S = Number(process.env.IM_FUZZ_SECONDS ?? 120);

jest.setTimeout((MAX_TIME_S + 240) * 1000);

function installSchemathesis(): void {
  const have = spawnSync(st, ['--version'], { encoding: 'utf8' });
  if (have.status === 0 && have.stdout.includes(SCHEMATHESIS)) return;
  process.stdout.write(`[api-fuzz] installing schemathesis ${SCHEMATHESIS} into ${venv} (once)...\n`);
  const steps: [string, string[]][] = [
    ['python3', ['-m', 'venv', venv]],
    [
      path.join(venv, 'bin', 'pip'),
      ['install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS}`],
    ],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { stdio: 'inherit' });
    if (r.status !== 0)
      throw new Error(
        `could not install schemathesis (${cmd} ${args.join(' ')} exited ${r.status}); it needs python3 with venv and access to PyPI`,
      );
  }
}

interface Tally {
  requests: number;
  byStatus: Map<number, number>;
  serverErrors: string[];
}

/** A pass-through proxy to `target` that counts requests and remembers every 5xx. */
async function countingProxy(target: string, tally: Tally): Promise<{ url: string; close(): Promise<void> }> {
  const t = new URL(target);
  const server = http.createServer((req, res) => {
    tally.requests++;
    const up = http.request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        const status = r.statusCode ?? 0;
        tally.byStatus.set(status, (tally.byStatus.get(status) ?? 0) + 1);
        if (status >= 500) tally.serverErrors.push(`${status} ${req.method} ${req.url}`);
        res.writeHead(status, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', (err) => {
      tally.serverErrors.push(`proxy: ${err.message} on ${req.method} ${req.url}`);
      res.destroy();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('the OpenAPI document, fuzzed by schemathesis', () => {
  const driver = standaloneDriver();
  const tally: Tally = { requests: 0, byStatus: new Map(), serverErrors: [] };
  let proxy: { url: string; close(): Promise<void> } | undefined;

  beforeAll(async () => {
    installSchemathesis();
    await driver.start();
  }, 300_000);

  afterAll(async () => {
    await proxy?.close();
    await driver.stop();
  });

  it('answers every generated request without a 5xx and as the document says', async () => {
    const api = client(driver.url());
    const login = await api('POST', '/api/login', {
      json: { username: 'admin', password: driver.adminPassword },
    });
    expect(login.status).toBe(200);
    const token: string = login.json.access_token;
    // Something to find: a runnable configuration with a package and a finished job.
    const c = await api('POST', '/api/jobconfigs', { token, json: { name: 'fuzz', active: true } });
    await api('POST', `/api/jobconfigs/${c.json.id}/files?key=samplePackage.djar`, {
      token,
      body: new Uint8Array(buildSamplePackage()),
      headers: { 'content-type': 'application/octet-stream' },
    });
    await api('PUT', `/api/jobconfigs/${c.json.id}`, {
      token,
      json: {
        name: 'fuzz',
        active: true,
        runtimeConfig: { packageName: 'samplePackage.djar', entryPoint: 'integrateXYZ.process' },
      },
    });
    await api('POST', `/api/jobconfigs/${c.json.id}/jobs`, { token });

    proxy = await countingProxy(driver.url(), tally);
    const outDir = fs.mkdtempSync(path.join(root, 'test-results', 'schemathesis-'));
    const args = [
      'run',
      `${proxy.url}/api/openapi.json`,
      '--url',
      `${proxy.url}/api`,
      '-H',
      `Authorization: Bearer ${token}`,
      '--checks',
      'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance',
      '--max-examples',
      '25',
      // A server-sent event stream stays open up to its maxSeconds (an hour by default): every valid
      // example would wait that long. Its parameters and access are tested in job-events.test.ts and
      // the access matrix.
      '--exclude-path',
      '/jobs/events',
      '--max-time',
      String(MAX_TIME_S),
      '--seed',
      process.env.IM_FUZZ_SEED ?? '20261128',
      '--no-color',
      '--report',
      'junit',
      '--report-dir',
      outDir,
    ];
    const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const p = spawn(st, args, { cwd: outDir, env: { ...process.env, SCHEMATHESIS_HOOKS: '' } });
      let text = '';
      p.stdout.on('data', (d: Buffer) => (text += d.toString()));
      p.stderr.on('data', (d: Buffer) => (text += d.toString()));
      p.on('close', (code) => resolve({ code, text }));
    });
    fs.writeFileSync(path.join(outDir, 'output.txt'), out.text);
    const statuses = [...tally.byStatus.entries()]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s}:${n}`)
      .join(' ');
    process.stdout.write(
      `[api-fuzz] schemathesis ${SCHEMATHESIS} sent ${tally.requests} requests (${statuses}); 5xx: ${tally.serverErrors.length}; output in ${path.relative(root, outDir)}\n`,
    );
    const summary = out.text.slice(out.text.lastIndexOf('SUMMARY'));
    expect({ serverErrors: tally.serverErrors.slice(0, 10) }).toEqual({ serverErrors: [] });
    if (out.code !== 0)
      throw new Error(`schemathesis found failures (exit ${out.code}):\n${out.text.slice(-6000)}`);
    expect(summary).toMatch(/API Operations:/);
    expect(tally.requests).toBeGreaterThan(500);
  });
});
