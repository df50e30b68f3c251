/**
 * The fault-injection suite's shared parts (docs/faults.md): the platform as separate processes on the
 * real infrastructure, stopping and starting one infrastructure component with scripts/infra, a
 * package that runs for a set time and reports each execution to a recorder in this process, a plain
 * Kafka consumer of the public job-status topic, and the tally every scenario prints and asserts.
 */
import {
  buildZip,
  infraEnv,
  startDistributed,
  waitFor,
  type DistributedOptions,
  type DistributedPlatform,
} from '@im/testing';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { client, type Api } from '../http';

const repoRoot = path.resolve(__dirname, '..', '..');
export const TERMINAL = ['FINISHED', 'ERROR', 'FAILED'] as const;
export const isTerminal = (status: string | undefined) =>
  status !== undefined && (TERMINAL as readonly string[]).includes(status);

// ---------------------------------------------------------------- infrastructure

export type Component = 'postgres' | 'kafka' | 's3';

/**
 * Runs scripts/infra/{down,up}.sh for one component of the infrastructure this run uses: the env file
 * loaded into the environment (IM_INFRA_DIR, IM_PG_CLUSTER, IM_*_PORT) names it, so the suite can run
 * against a second instance while others use the default one. up.sh returns once the component serves.
 */
export async function infra(action: 'up' | 'down', component: Component): Promise<number> {
  const started = Date.now();
  const out: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const c = spawn('bash', [path.join(repoRoot, 'scripts', 'infra', `${action}.sh`), component], {
      cwd: repoRoot,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    c.stdout.on('data', (d: Buffer) => out.push(d.toString()));
    c.stderr.on('data', (d: Buffer) => out.push(d.toString()));
    c.once('error', reject);
    c.once('exit', resolve);
  });
  if (code !== 0)
    throw new Error(`scripts/infra/${action}.sh ${component} failed (${code}):\n${out.join('')}`);
  return Date.now() - started;
}

/** Brings every component up again (idempotent): each scenario that stops one ends with this. */
export async function ensureInfraUp(): Promise<void> {
  for (const c of ['postgres', 'kafka', 's3'] as const) await infra('up', c);
}

// ---------------------------------------------------------------- executions recorder

export interface Execution {
  jobId: string;
  pid: number;
  ppid: number;
  startedAt: number;
  endedAt?: number;
}

/**
 * An HTTP server the test package calls when an execution starts and when it ends: executions are
 * counted from outside the platform, so a job run twice (or an orphan executor finishing after its
 * runner died) shows up whatever the platform itself reports.
 */
export class Recorder {
  readonly executions: Execution[] = [];
  private server: http.Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const jobId = u.searchParams.get('job') ?? '';
      const pid = Number(u.searchParams.get('pid'));
      const ppid = Number(u.searchParams.get('ppid'));
      if (u.pathname === '/start') this.executions.push({ jobId, pid, ppid, startedAt: Date.now() });
      else if (u.pathname === '/end') {
        const e = this.executions.find((x) => x.jobId === jobId && x.pid === pid && x.endedAt === undefined);
        if (e) e.endedAt = Date.now();
        else this.executions.push({ jobId, pid, ppid, startedAt: Date.now(), endedAt: Date.now() });
      }
      res.end('ok');
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  of(jobId: string): Execution[] {
    return this.executions.filter((e) => e.jobId === jobId);
  }

  running(): Execution[] {
    return this.executions.filter((e) => e.endedAt === undefined);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/**
 * The test package: `work.mjs` tells the recorder it starts (with its pid and its runner's pid),
 * waits WORK_MS milliseconds, tells the recorder it ends. Both macros come from the configuration.
 */
export function buildWorkPackage(): Promise<Buffer> {
  return buildZip({
    'work.mjs': `
const call = async (url) => {
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
      throw new Error('recorder answered ' + r.status);
    } catch (err) {
      if (i >= 20) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
};
export default async ({ jobId, macros, logger }) => {
  const q = 'job=' + encodeURIComponent(jobId) + '&pid=' + process.pid + '&ppid=' + process.ppid;
  await call(macros.RECORDER_URL + '/start?' + q);
  const ms = Number(macros.WORK_MS ?? '1000');
  logger.info('working for ' + ms + ' ms');
  await new Promise((r) => setTimeout(r, ms));
  await call(macros.RECORDER_URL + '/end?' + q);
  logger.info('work done');
};
`,
  });
}

// ---------------------------------------------------------------- the public status topic

export interface StatusEvent {
  jobId: string;
  status: string;
  previousStatus: string | null;
  sequence: number;
  attempt: number;
  reason: string | null;
  at: number;
}

/**
 * A plain kafkajs consumer of `<prefix>job.status`, from the beginning, as any outside consumer would
 * read it. Survives a broker restart: a consumer kafkajs gives up on is built again.
 */
export class StatusWatcher {
  readonly events: StatusEvent[] = [];
  private consumer: Consumer | undefined;
  private stopped = false;
  private readonly kafka: Kafka;

  constructor(private readonly topicPrefix: string) {
    this.kafka = new Kafka({
      clientId: 'faults-observer',
      brokers: infraEnv().kafkaBrokers,
      sasl: infraEnv().kafkaSasl,
      logLevel: logLevel.NOTHING,
    });
  }

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: `${this.topicPrefix}faults-observer`,
      maxWaitTimeInMs: 200,
      sessionTimeout: 10_000,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || this.stopped) return;
      setTimeout(() => void this.start().catch(() => undefined), 1000);
    });
    await consumer.connect();
    await consumer.subscribe({ topic: `${this.topicPrefix}job.status`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const v = JSON.parse(message.value?.toString() ?? '{}') as { data: Omit<StatusEvent, 'at'> };
        this.events.push({ ...v.data, at: Date.now() });
      },
    });
  }

  of(jobId: string): StatusEvent[] {
    return this.events.filter((e) => e.jobId === jobId);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.race([this.consumer?.disconnect(), new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}

// ---------------------------------------------------------------- the platform under faults

export interface JobView {
  id: string;
  status: string;
  reason: string | null;
  attempt: number;
}

export interface FaultPlatform {
  platform: DistributedPlatform;
  api: Api;
  token: string;
  recorder: Recorder;
  watcher: StatusWatcher;
  /** A configuration running the work package for `workMs`, with `maxAttempts` when given. */
  createConfig(name: string, options: { workMs: number; maxAttempts?: number }): Promise<string>;
  /** POST a job; undefined unless the answer was 202. */
  submitOnce(configId: string): Promise<{ status: number; id?: string }>;
  /** The jobs of a configuration as the API reports them. */
  jobs(configId: string): Promise<JobView[]>;
  job(id: string): Promise<JobView>;
  /** Waits until every id is terminal through the API (or the deadline passes); returns the last views. */
  waitTerminal(ids: string[], timeoutMs: number): Promise<Map<string, JobView>>;
  /** The runner process name whose pid is `ppid` (the executor's parent). */
  runnerOf(ppid: number): string | undefined;
  /** Writes every process's output to test-results/faults/<scenario>/<process>.log (read them after a failure). */
  saveLogs(scenario: string): string;
  stop(): Promise<void>;
}

/** Short leases and short group sessions, so a dead runner's work moves on within seconds. */
export const FAULT_ENV = {
  JOBS_LEASE_MS: '5000',
  RUNNER_GRACE_MS: '3000',
};

export async function startFaultPlatform(options: DistributedOptions = {}): Promise<FaultPlatform> {
  const recorder = new Recorder();
  await recorder.start();
  const jobconfigs = Array.from({ length: options.jobconfigs ?? 1 }, (_, i) =>
    i === 0 ? 'jobconfig' : `jobconfig-${i + 1}`,
  );
  const env: Record<string, Record<string, string>> = { ...(options.env ?? {}) };
  for (const name of jobconfigs) env[name] = { JOBS_LEASE_MS: FAULT_ENV.JOBS_LEASE_MS, ...(env[name] ?? {}) };
  // The work package reports to the recorder on this host's loopback and names its runner by its
  // parent pid: neither is possible inside the job sandbox (no route to the host's loopback, its own
  // PID namespace). This suite proves the delivery guarantees, which do not depend on the sandbox;
  // e2e/attacks and runner.isolation.test.ts prove the sandbox.
  env['*'] = { JOBS_ISOLATION: 'none', JOBS_NETWORK: 'host', ...(env['*'] ?? {}) };
  let platform: DistributedPlatform;
  try {
    platform = await startDistributed({ ...options, env });
  } catch (err) {
    await recorder.stop();
    throw err;
  }
  const api = client(platform.url);
  const watcher = new StatusWatcher(platform.topicPrefix);
  try {
    await watcher.start();
  } catch (err) {
    await platform.stop();
    await recorder.stop();
    throw err;
  }
  const login = await api('POST', '/api/login', {
    json: { username: 'admin', password: platform.adminPassword },
  });
  const token = login.json.access_token as string;
  const pkg = await buildWorkPackage();
  const view = (j: any): JobView => ({ id: j.id, status: j.status, reason: j.reason, attempt: j.attempt });

  const fp: FaultPlatform = {
    platform,
    api,
    token,
    recorder,
    watcher,
    async createConfig(name, { workMs, maxAttempts }) {
      const c = await api('POST', '/api/jobconfigs', {
        token,
        json: { name, ...(maxAttempts ? { maxAttempts } : {}) },
      });
      if (c.status !== 201) throw new Error(`creating ${name}: ${c.status} ${c.text}`);
      const id = c.json.id as string;
      const up = await api('POST', `/api/jobconfigs/${id}/files?key=work.djar`, {
        token,
        body: pkg,
        headers: { 'content-type': 'application/octet-stream' },
      });
      if (up.status !== 201) throw new Error(`uploading the package: ${up.status} ${up.text}`);
      const put = await api('PATCH', `/api/jobconfigs/${id}`, {
        token,
        json: {
          ...(maxAttempts ? { maxAttempts } : {}),
          runtimeConfig: {
            packageName: 'work.djar',
            entryPoint: 'work.mjs',
            macros: [
              { key: 'RECORDER_URL', value: recorder.url },
              { key: 'WORK_MS', value: String(workMs) },
            ],
          },
        },
      });
      if (put.status !== 200) throw new Error(`pointing ${name} at the package: ${put.status} ${put.text}`);
      if (maxAttempts && put.json.maxAttempts !== maxAttempts)
        throw new Error(`${name}: maxAttempts ${maxAttempts} was not kept (got ${put.json.maxAttempts})`);
      return id;
    },
    async submitOnce(configId) {
      try {
        const r = await api('POST', `/api/jobconfigs/${configId}/jobs`, { token });
        return r.status === 202 ? { status: 202, id: r.json.id as string } : { status: r.status };
      } catch {
        return { status: 0 };
      }
    },
    async jobs(configId) {
      const r = await api('GET', `/api/jobconfigs/${configId}/jobs?size=500`, { token });
      if (r.status !== 200) throw new Error(`listing jobs: ${r.status}`);
      return (r.json.items as unknown[]).map(view);
    },
    async job(id) {
      const r = await api('GET', `/api/jobs/${id}`, { token });
      if (r.status !== 200) throw new Error(`reading job ${id}: ${r.status}`);
      return view(r.json);
    },
    async waitTerminal(ids, timeoutMs) {
      const last = new Map<string, JobView>();
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const id of ids) {
          if (isTerminal(last.get(id)?.status)) continue;
          try {
            last.set(id, await fp.job(id));
          } catch {
            // an outage: asked again next round
          }
        }
        if (ids.every((id) => isTerminal(last.get(id)?.status)) || Date.now() > deadline) return last;
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    runnerOf(ppid) {
      return Object.entries(platform.processes).find(([, c]) => c.pid === ppid)?.[0];
    },
    saveLogs(scenario) {
      const dir = path.join(repoRoot, 'test-results', 'faults', scenario);
      fs.mkdirSync(dir, { recursive: true });
      for (const name of platform.names)
        fs.writeFileSync(path.join(dir, `${name}.log`), platform.output(name));
      return dir;
    },
    async stop() {
      await watcher.stop();
      await platform.stop();
      await recorder.stop();
    },
  };
  return fp;
}

// ---------------------------------------------------------------- the tally

export interface Tally {
  line: string;
  submitted: number;
  finished: number;
  failed: number;
  reasons: Record<string, number>;
  lost: string[];
  duplicated: string[];
  /** Why each lost or duplicated job counts as such. */
  why: Record<string, string>;
}

/**
 * Counts a scenario's jobs. `lost`: a submitted job not terminal through the API by the deadline, or
 * whose status events on the topic do not run 1..n without a gap up to a terminal one matching the
 * API. `duplicated`: a job with more than one terminal event (distinct sequences), more executions
 * started than attempts, or more than one execution that ran to its end.
 */
export function tally(
  scenario: string,
  submitted: string[],
  views: Map<string, JobView>,
  watcher: StatusWatcher,
  recorder: Recorder,
): Tally {
  const why: Record<string, string> = {};
  const lost: string[] = [];
  const duplicated: string[] = [];
  const reasons: Record<string, number> = {};
  let finished = 0;
  let failed = 0;
  for (const id of submitted) {
    const v = views.get(id);
    const bySeq = new Map<number, StatusEvent>();
    for (const e of watcher.of(id)) bySeq.set(e.sequence, e);
    const seqs = [...bySeq.keys()].sort((a, b) => a - b);
    const max = seqs.at(-1) ?? 0;
    const terminalEvents = [...bySeq.values()].filter((e) => isTerminal(e.status));
    const lastEvent = bySeq.get(max);
    if (!v || !isTerminal(v.status)) {
      lost.push(id);
      why[id] = `not terminal through the API (${v?.status ?? 'unknown'})`;
    } else if (seqs.length !== max) {
      lost.push(id);
      why[id] = `sequence gap on the topic: ${seqs.join(',')}`;
    } else if (!lastEvent || lastEvent.status !== v.status) {
      lost.push(id);
      why[id] = `topic ends at ${lastEvent?.status ?? 'nothing'} (#${max}), the API says ${v.status}`;
    }
    const runs = recorder.of(id);
    const completed = runs.filter((r) => r.endedAt !== undefined).length;
    if (terminalEvents.length > 1) {
      duplicated.push(id);
      why[id] =
        `${terminalEvents.length} terminal events: ${terminalEvents.map((e) => `${e.status}#${e.sequence}`).join(',')}`;
    } else if (completed > 1 || (v && runs.length > Math.max(v.attempt, 1))) {
      duplicated.push(id);
      why[id] = `${runs.length} executions (${completed} ran to the end) for ${v?.attempt ?? '?'} attempt(s)`;
    }
    if (v?.status === 'FINISHED') finished++;
    else if (v && (v.status === 'FAILED' || v.status === 'ERROR')) {
      failed++;
      const reason = v.reason ?? v.status.toLowerCase();
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    }
  }
  const reasonText = Object.entries(reasons)
    .map(([r, n]) => `${r}=${n}`)
    .join(',');
  const line = `scenario=${scenario} submitted=${submitted.length} finished=${finished} failed=${failed}(${reasonText}) lost=${lost.length} duplicated=${duplicated.length}`;
  return { line, submitted: submitted.length, finished, failed, reasons, lost, duplicated, why };
}

/** Prints the scenario line (and why each lost or duplicated job counts) where CI shows it. */
export function report(t: Tally): void {
  const details = [...t.lost, ...t.duplicated].slice(0, 10).map((id) => `  ${id}: ${t.why[id]}`);
  process.stdout.write(`${[t.line, ...details].join('\n')}\n`);
}

export { waitFor };
