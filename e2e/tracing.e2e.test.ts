import { ImClient } from '@im/client';
import type { SpanRecord } from '@im/observability';
import { buildSamplePackage, startDistributed, waitFor, type DistributedPlatform } from '@im/testing';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Every span the processes wrote so far (each appends JSON lines to the one file). */
function readSpans(file: string): SpanRecord[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as SpanRecord);
}

/** The spans whose parent is not in the trace (a complete trace has exactly one: its root). */
function orphans(spans: SpanRecord[]): SpanRecord[] {
  const ids = new Set(spans.map((s) => s.spanId));
  return spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
}

/** The metric's value on a line of the Prometheus text format that holds every one of `parts`. */
function sample(text: string, name: string, parts: string[]): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && parts.every((p) => l.includes(p)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/**
 * Issue #9, observability: one job is one trace from the POST to FINISHED, across the gateway,
 * jobconfig and the job runner (W3C traceparent over HTTP, Kafka headers and the outbox), and each
 * service serves its metrics on its own port.
 */
describe('observability, distributed', () => {
  let platform: DistributedPlatform;
  let spansFile: string;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-spans-'));
    spansFile = path.join(dir, 'spans.jsonl');
    platform = await startDistributed({
      env: { '*': { OTEL_TEST_SPANS_FILE: spansFile }, jobconfig: { LOG_LEVEL: 'info' } },
    });
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  let jobId: string;
  let traceId: string;

  it('traces one job as one tree rooted at the gateway, spanning jobconfig and the runner', async () => {
    // The flow through the typed client (@im/client), as a TypeScript integration would do it.
    const im = new ImClient({ baseUrl: platform.url });
    const token = (await im.login('admin', platform.adminPassword)).accessToken;
    const { id } = await im.jobConfigs.create({ active: true, name: 'traced' });
    const stored = await im.files.upload(id, 'samplePackage.djar', new Uint8Array(buildSamplePackage()));
    expect(stored.name).toBe('samplePackage.djar');
    await im.jobConfigs.replace(id, {
      active: true,
      name: 'traced',
      runtimeConfig: { packageName: 'samplePackage.djar', entryPoint: 'integrateXYZ.process' },
    });
    jobId = (await im.jobs.run(id)).id;
    const job = await waitFor(
      async () => {
        const j = await im.jobs.get(jobId);
        return ['FINISHED', 'ERROR', 'FAILED'].includes(j.status) ? j : undefined;
      },
      { timeoutMs: 60_000, what: 'the job to end' },
    );
    expect(job.status).toBe('FINISHED');

    // The trace is the one of the gateway's span of the POST (the client sent no traceparent).
    const root = await waitFor(
      () =>
        readSpans(spansFile).find(
          (s) =>
            s.service === 'gateway' &&
            s.attributes['http.request.method'] === 'POST' &&
            s.attributes['url.path'] === `/api/jobconfigs/${id}/jobs`,
        ),
      { timeoutMs: 10_000, what: "the gateway's span of the POST" },
    );
    traceId = root.traceId;
    expect(root.parentSpanId).toBeUndefined();

    // Complete once the runner's span of the attempt ended and jobconfig handled the FINISHED report
    // (a child of it): then every span of the trace has its parent in the file.
    const trace = await waitFor(
      () => {
        const spans = readSpans(spansFile).filter((s) => s.traceId === traceId);
        const runnerJob = spans.find((s) => s.service === 'job-runner' && s.name === 'job');
        const execute = spans.find((s) => s.service === 'job-runner' && s.name === 'execute');
        if (!runnerJob || !execute) return undefined;
        // The final report: sent in the runner's job span after the entry point ended.
        const handledAfter = spans.some(
          (s) =>
            s.service === 'jobconfig' &&
            s.name === `${platform.topicPrefix}job.progress process` &&
            s.parentSpanId === runnerJob.spanId &&
            s.start >= execute.end,
        );
        return handledAfter && orphans(spans).length === 1 ? spans : undefined;
      },
      { timeoutMs: 20_000, what: 'the whole trace of the job' },
    );

    expect(orphans(trace).map((s) => s.spanId)).toEqual([root.spanId]);
    const services = new Set(trace.map((s) => s.service));
    expect([...services]).toEqual(expect.arrayContaining(['gateway', 'jobconfig', 'job-runner']));
    const names = (service: string) => trace.filter((s) => s.service === service).map((s) => s.name);
    expect(names('gateway')).toContain('POST proxy:jobconfig');
    expect(names('jobconfig')).toContain('POST /api/jobconfigs/:id/jobs');
    expect(names('job-runner')).toEqual(
      expect.arrayContaining([
        `${platform.topicPrefix}job.requests process`,
        'job',
        'claim',
        'prepare',
        'execute',
      ]),
    );
    // The runner's spans name the job; no span of any service holds a token.
    expect(trace.find((s) => s.name === 'job')!.attributes['im.job.id']).toBe(jobId);
    expect(JSON.stringify(trace)).not.toContain(token);

    // Log lines of the job carry its trace id.
    const jobconfigLines = platform
      .output('jobconfig')
      .split('\n')
      .filter((l) => l.includes(jobId) && l.includes(`"traceId":"${traceId}"`));
    expect(jobconfigLines.length).toBeGreaterThan(0);
  }, 120_000);

  it('serves Prometheus metrics on each service port, outside /api, with the metrics token', async () => {
    const metrics = async (name: string) => {
      const r = await fetch(`${platform.urls[name]}/metrics`, {
        headers: { authorization: `Bearer ${platform.metricsToken}` },
      });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain('text/plain');
      return r.text();
    };
    const jobconfig = await metrics('jobconfig');
    expect(
      sample(jobconfig, 'http_request_duration_seconds_count', [
        'route="/api/jobconfigs/:id/jobs"',
        'method="POST"',
        'status="202"',
      ]),
    ).toBeGreaterThanOrEqual(1);
    // Patterns only: no job id or configuration id in any label.
    expect(jobconfig).not.toContain(jobId);
    expect(sample(jobconfig, 'im_jobs_total', ['status="FINISHED"'])).toBeGreaterThanOrEqual(1);
    expect(sample(jobconfig, 'im_job_duration_seconds_count', ['status="FINISHED"'])).toBeGreaterThanOrEqual(
      1,
    );
    expect(sample(jobconfig, 'im_job_queue_seconds_count', [])).toBeGreaterThanOrEqual(1);
    expect(sample(jobconfig, 'im_jobs', ['status="RUNNING"'])).toBe(0);
    expect(sample(jobconfig, 'im_outbox_backlog', [])).toBeGreaterThanOrEqual(0);
    expect(jobconfig).toContain('process_cpu_seconds_total{service="jobconfig"}');

    const runner = await metrics('job-runner-1');
    expect(sample(runner, 'im_runner_slots', [])).toBeGreaterThanOrEqual(1);
    expect(sample(runner, 'im_runner_slots_in_use', [])).toBe(0);
    expect(sample(runner, 'im_runner_claim_seconds_count', [])).toBeGreaterThanOrEqual(1);

    const gateway = await metrics('gateway');
    expect(
      sample(gateway, 'http_request_duration_seconds_count', ['route="proxy:jobconfig"', 'method="POST"']),
    ).toBeGreaterThanOrEqual(1);
    for (const name of ['auth', 'file-storage'])
      expect(await metrics(name)).toContain('http_request_duration');

    // Not part of the API: the gateway's /api has no /metrics.
    expect((await fetch(`${platform.url}/api/metrics`)).status).not.toBe(200);
  }, 60_000);
});

/** The OTLP/HTTP exporter, from the built library in a real node process (jest's VM cannot load it). */
describe('OTLP export', () => {
  it('exports spans to an OTLP/HTTP collector when OTEL_EXPORTER_OTLP_ENDPOINT is set (built library, real node)', async () => {
    const received: { url: string | undefined; body: string }[] = [];
    const collector = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push({ url: req.url, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const { port } = collector.address() as AddressInfo;
    try {
      const lib = path.resolve(__dirname, '..', 'libs', 'observability', 'dist');
      const script = `
        const o = require(${JSON.stringify(lib)});
        const t = o.initObservability('otlp-probe', process.env);
        o.inSpan('exported work', {}, async () => undefined).then(() => t.shutdown());`;
      const child = await new Promise<number | null>((resolve) => {
        const r = spawn(process.execPath, ['-e', script], {
          env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` },
          stdio: 'inherit',
        });
        r.on('exit', resolve);
      });
      expect(child).toBe(0);
      expect(received.map((r) => r.url)).toEqual(['/v1/traces']);
      expect(received[0]!.body).toContain('exported work');
      expect(received[0]!.body).toContain('otlp-probe');
    } finally {
      collector.close();
    }
  }, 30_000);
});
