// Shared by the platform benchmarks of issue 8 (bench/dispatch, bench/chain, bench/throughput): start
// the standalone or distributed platform, build and upload a no-op package, submit jobs, observe the
// job-status topic (or, in standalone mode, poll the API), and the bare kafkajs baseline. bench/api and
// bench/large use its lifecycle (main, onCleanup) and /proc CPU accounting too.
//
// Clocks: every client-side time here is `now()`, epoch milliseconds with sub-millisecond resolution
// (performance.timeOrigin + performance.now()), so it can be compared with the platform's own ISO
// timestamps (millisecond resolution, same machine clock) in the per-hop breakdowns.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { progress } from './report.mjs';
import { useNode24 } from '../../scripts/runtime.mjs';

// Every platform benchmark runs on Node 24 (the platform needs it): fetched once if this machine's
// Node is another version (scripts/runtime.mjs).
await useNode24();

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(root, 'package.json'));

/** Epoch milliseconds, sub-millisecond resolution, monotonic within this process. */
export const now = () => performance.timeOrigin + performance.now();

export { sleep };

/** Statuses in the order a job goes through them; the terminal ones share the last rank. */
const RANK = {
  SEQUENCED: 0,
  QUEUED: 1,
  INITIALIZING: 2,
  RUNNING: 3,
  FINISHED: 4,
  ERROR: 4,
  FAILED: 4,
  CANCELLED: 4,
};
export const TERMINAL = new Set(['FINISHED', 'ERROR', 'FAILED', 'CANCELLED']);

/** The no-op package every benchmark runs: one script entry point that returns at once. */
export const NOOP_PACKAGE = {
  name: 'noop.djar',
  entryPoint: 'noop.mjs',
  source: 'export default async () => {};\n',
};

/** Kafka consumer settings of the benchmark's own consumers (observer and baseline), printed with the figures. */
export const CONSUMER_SETTINGS = { maxWaitTimeInMs: 500, minBytes: 1 };

// ---------------------------------------------------------------------------------------------
// Command line

/**
 * `--name value`, `--name=value` and bare `--flag` into an object; unknown names are refused so a
 * typo never runs a full benchmark with the defaults.
 */
export function cli(allowed, usage, argv = process.argv.slice(2)) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(usage);
      process.exit(0);
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"\n${usage}`);
    const eq = a.indexOf('=');
    const name = a.slice(2, eq === -1 ? undefined : eq);
    if (!allowed.includes(name)) throw new Error(`unknown option --${name}\n${usage}`);
    if (eq !== -1) opts[name] = a.slice(eq + 1);
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) opts[name] = argv[++i];
    else opts[name] = true;
  }
  return opts;
}

/** A positive number option, or its default. */
export function numberOpt(opts, name, fallback) {
  if (opts[name] === undefined) return fallback;
  const n = Number(opts[name]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
}

/** A whole number ≥ 0 option (a count), or its default. */
export function countOpt(opts, name, fallback) {
  if (opts[name] === undefined) return fallback;
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number ≥ 0`);
  return n;
}

/** A comma list option (`--rates 500,1000`), or its default. */
export function listOpt(opts, name, fallback, parse = (s) => s) {
  if (opts[name] === undefined || opts[name] === true) return fallback;
  return String(opts[name])
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parse);
}

/**
 * `--runner-env K=V,K=V`: extra environment of the job runners (each job-runner process; the
 * standalone process), e.g. JOBS_WARM_EXECUTORS=2, to see what a setting changes.
 */
export function runnerEnvOpt(opts) {
  const env = {};
  for (const kv of listOpt(opts, 'runner-env', [])) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--runner-env takes KEY=VALUE pairs, not "${kv}"`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

export function platformsOpt(opts, fallback) {
  const list = listOpt(opts, 'platforms', fallback);
  for (const p of list)
    if (p !== 'distributed' && p !== 'standalone')
      throw new Error(`--platforms takes distributed and/or standalone, not "${p}"`);
  return list;
}

// ---------------------------------------------------------------------------------------------
// Lifecycle: everything started is stopped, on success, on error and on SIGINT/SIGTERM.

const cleanups = [];
let cleaning;

/** Registers `fn` to run at exit (last registered runs first); returns a function that runs it now, once. */
export function onCleanup(fn) {
  let done = false;
  const run = async () => {
    if (done) return;
    done = true;
    const i = cleanups.indexOf(run);
    if (i !== -1) cleanups.splice(i, 1);
    await fn();
  };
  cleanups.push(run);
  return run;
}

/**
 * Registers the stop of something still starting (`starting`, a promise of an object with stop()), so
 * that an error or a signal during its start stops it too; resolves with it once started.
 */
export function stopAtExit(starting, what) {
  onCleanup(async () => {
    const p = await starting.catch(() => undefined);
    if (p) {
      progress(`stopping ${what}`);
      await p.stop();
    }
  });
  return starting;
}

/** Runs every registered cleanup, last first, even when one fails; one pass, however often called. */
function cleanupAll() {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups[cleanups.length - 1];
      try {
        await fn();
      } catch (err) {
        progress(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
        const i = cleanups.indexOf(fn);
        if (i !== -1) cleanups.splice(i, 1);
      }
    }
  })();
  return cleaning;
}

/**
 * Runs a benchmark: cleans up whatever happens, exits 0 on success, 1 on error, 130 on a signal.
 *   - `onSignal(signal)`: called on the first SIGINT/SIGTERM before the cleanups, to stop work in
 *     progress that no cleanup stops (a running load, transfers);
 *   - `stopping`: what that signal's progress line says is being stopped;
 *   - `name`: when given, an error is printed as "<name> failed: <stack>", or "<name> interrupted"
 *     after a signal; without it, its stack alone.
 */
export async function main(
  fn,
  { onSignal, stopping = 'stopping everything this benchmark started…', name } = {},
) {
  let signalled = false;
  const handle = (signal) => {
    if (signalled) process.exit(130); // a second Ctrl-C: give up on a graceful stop
    signalled = true;
    progress(`${signal}: ${stopping}`);
    onSignal?.(signal);
    void cleanupAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
  let code = 0;
  try {
    await fn();
  } catch (err) {
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    if (name === undefined) process.stderr.write(`\n${text}\n`);
    else process.stderr.write(signalled ? `\n${name} interrupted\n` : `\n${name} failed: ${text}\n`);
    code = 1;
  } finally {
    if (!signalled) await cleanupAll();
  }
  if (!signalled) process.exit(code);
}

// ---------------------------------------------------------------------------------------------
// Platforms

function assertBuilt() {
  const needed = [
    'libs/testing/dist/index.js',
    'services/standalone/dist/main.js',
    'services/gateway/dist/main.js',
    'services/jobconfig/dist/main.js',
    'services/job-runner/dist/main.js',
    'services/job-runner/dist/executor/child.js',
  ];
  const missing = needed.filter((f) => !existsSync(path.join(root, f)));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run "npm run build" first.`);
}

function testing() {
  assertBuilt();
  return require('@im/testing');
}

/** The Kafka brokers of scripts/infra (KAFKA_BROKERS), with a hint when the environment is not loaded. */
export function infra() {
  try {
    return testing().infraEnv();
  } catch (err) {
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}\nLoad the infrastructure's environment first: set -a && . .infra/env && set +a`,
    );
  }
}

export function uniqueName(prefix) {
  return testing().uniqueName(prefix);
}

/**
 * Starts a platform and registers its stop. Distributed: gateway, auth, jobconfig, file-storage and
 * `runners` job-runner processes on the real PostgreSQL, Kafka and S3 (libs/testing startDistributed,
 * which gives each runner RUNNER_SLOTS=2 and LOG_LEVEL=warn). Standalone: the single process on a
 * fresh data directory (SQLite, local objects, in-process bus; LOG_LEVEL=warn, default 2 slots).
 */
export async function startPlatform(kind, { runners = 1, runnerEnv = {}, env = {} } = {}) {
  const t = testing();
  if (kind === 'distributed') {
    const brokers = infra().kafkaBrokers;
    const perProcess = { ...env };
    for (let i = 1; i <= runners; i++)
      perProcess[`job-runner-${i}`] = { ...runnerEnv, ...(env[`job-runner-${i}`] ?? {}) };
    const d = await t.startDistributed({ runners, env: perProcess });
    const stop = onCleanup(() => d.stop());
    return {
      kind,
      label: `distributed (${runners} runner${runners === 1 ? '' : 's'})`,
      url: d.url,
      topicPrefix: d.topicPrefix,
      brokers,
      adminPassword: d.adminPassword,
      stop,
      pids: () => Object.fromEntries(Object.entries(d.processes).map(([name, c]) => [name, c.pid])),
      diagnostics: () =>
        Object.keys(d.processes)
          .map((name) => `--- ${name}\n${d.output(name).slice(-3000)}`)
          .join('\n'),
    };
  }
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-bench-'));
  const removeDir = onCleanup(() => fs.rm(dataDir, { recursive: true, force: true }));
  const adminPassword = 'bench-admin-password-123';
  const p = await t.startStandalone({
    IM_DATA_DIR: dataDir,
    IM_ADMIN_PASSWORD: adminPassword,
    ...runnerEnv,
    ...env,
  });
  const stopProcess = onCleanup(() => p.stop());
  return {
    kind,
    label: 'standalone',
    url: p.url,
    pids: () => ({ standalone: p.child.pid }),
    adminPassword,
    stop: async () => {
      await stopProcess();
      await removeDir();
    },
    diagnostics: () => p.output().slice(-6000),
  };
}

// ---------------------------------------------------------------------------------------------
// REST client

export class Client {
  constructor(url) {
    this.url = url;
    this.token = undefined;
  }

  async call(method, p, { json, body, headers = {}, expect } = {}) {
    const h = { ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    let payload = body;
    if (json !== undefined) {
      h['content-type'] = 'application/json';
      payload = JSON.stringify(json);
    }
    const res = await fetch(`${this.url}${p}`, { method, headers: h, body: payload });
    const text = await res.text();
    let data;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (expect !== undefined && res.status !== expect)
      throw new Error(`${method} ${p} answered ${res.status}, not ${expect}: ${text.slice(0, 800)}`);
    return { status: res.status, json: data, text };
  }

  async login(password, username = 'admin') {
    const r = await this.call('POST', '/api/login', { json: { username, password }, expect: 200 });
    this.token = r.json.access_token;
  }

  /** A configuration running the no-op package: create, upload the package, point at it. Returns its id. */
  async createNoopConfig(name) {
    const zip = await testing().buildZip({ [NOOP_PACKAGE.entryPoint]: NOOP_PACKAGE.source });
    const c = await this.call('POST', '/api/jobconfigs', { json: { name, active: true }, expect: 201 });
    const id = c.json.id;
    await this.call('POST', `/api/jobconfigs/${id}/files?key=${NOOP_PACKAGE.name}`, {
      body: zip,
      headers: { 'content-type': 'application/octet-stream' },
      expect: 201,
    });
    await this.call('PATCH', `/api/jobconfigs/${id}`, {
      json: { runtimeConfig: { packageName: NOOP_PACKAGE.name, entryPoint: NOOP_PACKAGE.entryPoint } },
      expect: 200,
    });
    return id;
  }

  /** Runs the configuration once: `sent` is just before the request, `at` when its 202 has arrived. */
  async submit(configId) {
    const sent = now();
    const r = await this.call('POST', `/api/jobconfigs/${configId}/jobs`, { expect: 202 });
    return { id: r.json.id, sent, at: now() };
  }

  /** Every job of a configuration, by id (the platform's own timestamps: scheduled, started, finished). */
  async jobsOf(configId) {
    const out = new Map();
    for (let page = 0; ; page++) {
      const r = await this.call('GET', `/api/jobconfigs/${configId}/jobs?size=500&offset=${page}`, {
        expect: 200,
      });
      for (const j of r.json.items) out.set(j.id, j);
      if (page + 1 >= r.json.totalPages) return out;
    }
  }
}

/** Starts a platform, logs in and creates the no-op configuration. */
export async function preparePlatform(kind, options) {
  progress(`starting the ${kind} platform…`);
  const t0 = now();
  const platform = await startPlatform(kind, options);
  const client = new Client(platform.url);
  await client.login(platform.adminPassword);
  const configId = await client.createNoopConfig(`bench ${uniqueName('noop')}`);
  progress(`${platform.label} ready in ${((now() - t0) / 1000).toFixed(1)} s at ${platform.url}`);
  return { platform, client, configId };
}

// ---------------------------------------------------------------------------------------------
// Observing job statuses

/**
 * The first moment each job was seen in each status, and waiters for them. A waiter for a status the
 * job skipped as observed (polling can miss a short status) resolves at the first later status seen,
 * marked `missed`; a waiter for FINISHED rejects when the job ends otherwise.
 */
export class StatusBook {
  constructor() {
    this.jobs = new Map();
  }

  entry(jobId) {
    let e = this.jobs.get(jobId);
    if (!e) {
      e = { seen: new Map(), waiters: [] };
      this.jobs.set(jobId, e);
    }
    return e;
  }

  record(jobId, status, at, detail) {
    const e = this.entry(jobId);
    if (e.seen.has(status)) return;
    e.seen.set(status, { at, detail, missed: false });
    e.waiters = e.waiters.filter((w) => !this.settle(e, w));
  }

  /** Settles a waiter if it can be; true when it did. */
  settle(e, w) {
    const hit = e.seen.get(w.status);
    if (hit) {
      w.resolve(hit);
      return true;
    }
    for (const [status, s] of e.seen) {
      if (TERMINAL.has(status) && status !== 'FINISHED') {
        w.reject(
          Object.assign(
            new Error(`job ${w.jobId} ended ${status} (${JSON.stringify(s.detail?.data ?? s.detail)})`),
            { kind: 'ended', status, reason: s.detail?.data?.reason ?? s.detail?.reason ?? null },
          ),
        );
        return true;
      }
      if (RANK[status] > RANK[w.status]) {
        w.resolve({ ...s, missed: true });
        return true;
      }
    }
    return false;
  }

  /** Resolves with `{ at, detail, missed }` once the job is seen in `status`. */
  wait(jobId, status, timeoutMs = 60_000) {
    return new Promise((resolve, reject) => {
      const e = this.entry(jobId);
      let timer;
      const w = {
        jobId,
        status,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      if (this.settle(e, w)) return;
      timer = setTimeout(() => {
        e.waiters = e.waiters.filter((x) => x !== w);
        const seen = [...e.seen.keys()].join(', ') || 'nothing';
        reject(
          Object.assign(
            new Error(`job ${jobId} did not reach ${status} within ${timeoutMs} ms (seen: ${seen})`),
            {
              kind: 'timeout',
            },
          ),
        );
      }, timeoutMs);
      e.waiters.push(w);
    });
  }

  seen(jobId, status) {
    return this.jobs.get(jobId)?.seen.get(status);
  }

  forget(jobId) {
    this.jobs.delete(jobId);
  }
}

/** A kafkajs client as the admin principal of scripts/infra (the benchmark observes every topic). */
function kafkaClient(brokers, clientId) {
  const { Kafka, logLevel } = require('kafkajs');
  return new Kafka({ clientId, brokers, sasl: infra().kafkaSasl, logLevel: logLevel.NOTHING });
}

/** Resolves when the consumer has joined its group (partitions assigned). */
function joined(consumer) {
  return new Promise((resolve) => {
    const off = consumer.on(consumer.events.GROUP_JOIN, () => {
      off();
      resolve();
    });
  });
}

/**
 * A plain kafkajs consumer of `<prefix>job.status` (a group of its own, from the beginning of the
 * fresh topic): each event is recorded at the moment eachMessage receives it.
 */
export async function watchStatusTopic({ brokers, topicPrefix }) {
  const kafka = kafkaClient(brokers, 'im-bench-observer');
  const consumer = kafka.consumer({
    groupId: `${topicPrefix}bench.observer.${randomBytes(3).toString('hex')}`,
    ...CONSUMER_SETTINGS,
  });
  const book = new StatusBook();
  await consumer.connect();
  const close = onCleanup(() => consumer.disconnect());
  const ready = joined(consumer);
  await consumer.subscribe({ topic: `${topicPrefix}job.status`, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const at = now();
      const e = JSON.parse(message.value.toString());
      book.record(e.data.jobId, e.data.status, at, e);
    },
  });
  await ready;
  return { book, track: () => undefined, close, how: 'job-status topic, kafkajs consumer' };
}

/**
 * Standalone mode has no Kafka: its job-status topic lives on the in-process bus. A client sees a
 * status change through GET /api/jobs/{id}, which reads the row the status event is published from
 * (committed just before the event). Each tracked job is polled every `intervalMs` after the previous
 * answer, and a status is recorded when the answer showing it arrives: the figure is late by at most
 * one poll period (interval + one GET round trip), and the polling itself costs the platform CPU.
 */
export function pollJobs(client, { intervalMs }) {
  const book = new StatusBook();
  const tracked = new Set();
  let stopped = false;
  let wake;
  const loop = (async () => {
    while (!stopped) {
      if (tracked.size === 0) {
        await new Promise((r) => (wake = r));
        continue;
      }
      await Promise.all(
        [...tracked].map(async (id) => {
          const r = await client.call('GET', `/api/jobs/${id}`);
          const at = now();
          if (r.status !== 200) return;
          book.record(id, r.json.status, at, r.json);
          if (TERMINAL.has(r.json.status)) tracked.delete(id);
        }),
      );
      await sleep(intervalMs);
    }
  })();
  const close = onCleanup(async () => {
    stopped = true;
    wake?.();
    await loop;
  });
  return {
    book,
    track: (id) => {
      tracked.add(id);
      wake?.();
    },
    close,
    how: `GET /api/jobs/{id} polled every ${intervalMs} ms + one round trip`,
  };
}

/** The watcher for a platform: the topic for distributed, polling for standalone. */
export function watchJobs(prepared, { pollMs }) {
  const { platform, client } = prepared;
  return platform.kind === 'distributed'
    ? watchStatusTopic(platform)
    : Promise.resolve(pollJobs(client, { intervalMs: pollMs }));
}

/** Submits one job and waits for it to reach RUNNING and FINISHED (60 s at most for each). */
export async function runOne({ client, configId, watcher }) {
  const s = await client.submit(configId);
  watcher.track(s.id);
  const running = await watcher.book.wait(s.id, 'RUNNING');
  const finished = await watcher.book.wait(s.id, 'FINISHED');
  return { ...s, running, finished };
}

// ---------------------------------------------------------------------------------------------
// Baseline: bare kafkajs on the same broker

/**
 * A topic of its own (3 partitions, as the platform's topics in startDistributed), a producer set up
 * as the platform's bus sets up its own (idempotent, one request in flight, acks=all) and a consumer
 * with CONSUMER_SETTINGS. Each message carries a ~400-byte payload, the size of a status event.
 */
export async function kafkaBaseline({ brokers }) {
  const kafka = kafkaClient(brokers, 'im-bench-baseline');
  const topic = `${uniqueName('bench')}.baseline`;
  const admin = kafka.admin();
  await admin.connect();
  const closeAdmin = onCleanup(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const closeProducer = onCleanup(() => producer.disconnect());
  const consumer = kafka.consumer({ groupId: `${topic}.consumer`, ...CONSUMER_SETTINGS });
  await consumer.connect();
  const closeConsumer = onCleanup(() => consumer.disconnect());
  const pending = new Map();
  const ready = joined(consumer);
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const at = now();
      const id = message.key.toString();
      pending.get(id)?.(at);
      pending.delete(id);
    },
  });
  await ready;
  let seq = 0;
  const pad = 'x'.repeat(400);

  /** One message: from the send call (or `from`, a scheduled time) until the consumer receives it. */
  const roundTrip = async (from) => {
    const id = `m${seq++}`;
    const received = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`baseline message ${id} not consumed within 30 s`));
      }, 30_000);
      pending.set(id, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
    const t0 = from ?? now();
    await producer.send({ topic, acks: -1, messages: [{ key: id, value: JSON.stringify({ id, pad }) }] });
    return (await received) - t0;
  };

  return {
    describe: `kafkajs ${require('kafkajs/package.json').version}, producer idempotent/acks=all/1 in flight, consumer maxWaitTimeInMs ${CONSUMER_SETTINGS.maxWaitTimeInMs}, minBytes ${CONSUMER_SETTINGS.minBytes}, 3 partitions, ~400-byte messages`,
    /** `n` messages one at a time, each timed until consumed; `warmup` more before, not counted. */
    async sequential(n, warmup = 20) {
      for (let i = 0; i < warmup; i++) await roundTrip();
      const samples = [];
      const t0 = now();
      for (let i = 0; i < n; i++) samples.push(await roundTrip());
      return { samples, totalMs: now() - t0 };
    },
    /** Open loop: a message every 60000/rate ms for `seconds`, each timed from its scheduled moment. */
    async openLoop(ratePerMin, seconds) {
      const all = [];
      const { achievedPerMin } = await schedule(ratePerMin, seconds, (due) =>
        all.push(roundTrip(due).then((ms) => ms)),
      );
      const settled = await Promise.allSettled(all);
      const samples = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value);
      return { samples, lost: settled.length - samples.length, achievedPerMin };
    },
    async close() {
      await closeConsumer();
      await closeProducer();
      await closeAdmin();
    },
  };
}

/**
 * Calls `fire(due)` on a fixed schedule, every 60000/rate ms for `seconds`, whatever happens to the
 * earlier calls (open loop). Returns the achieved rate of calls (they are started on time unless this
 * process's event loop is late).
 */
export async function schedule(ratePerMin, seconds, fire) {
  const interval = 60_000 / ratePerMin;
  const total = Math.max(1, Math.round((ratePerMin * seconds) / 60));
  const start = now();
  let maxLateMs = 0;
  for (let k = 0; k < total; k++) {
    const due = start + k * interval;
    const wait = due - now();
    if (wait >= 1) await sleep(wait);
    maxLateMs = Math.max(maxLateMs, now() - due);
    fire(due, k);
  }
  const spanMs = Math.max(now() - start, total * interval);
  return { total, achievedPerMin: (total / spanMs) * 60_000, maxLateMs };
}

// ---------------------------------------------------------------------------------------------
// CPU accounting (Linux /proc): where the machine's time went during a measurement

let clockTicks;
function ticksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * utime+stime of a process and cutime+cstime of its reaped children (the executors), in seconds;
 * undefined once it is gone.
 */
function processCpu(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    const t = (i) => Number(f[i - 3]) / ticksPerSecond();
    return { self: t(14) + t(15), children: t(16) + t(17) };
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) a process has used so far, its children apart, in seconds; NaN once gone. */
export function processCpuSeconds(pid) {
  return processCpu(pid)?.self ?? Number.NaN;
}

/**
 * The whole machine's busy (all but idle and iowait) and total CPU time so far, all cores, in seconds;
 * NaN for both without /proc.
 */
export function machineCpu() {
  try {
    const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
    const idle = v[3] + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: (total - idle) / ticksPerSecond(), total: total / ticksPerSecond() };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/**
 * A snapshot of the CPU time of the platform's processes, this process and the whole machine;
 * `cpuDelta(a, b, jobs)` turns two of them into figures.
 */
export function cpuSnapshot(platform) {
  const procs = {};
  for (const [name, pid] of Object.entries(platform.pids())) procs[name] = processCpu(pid);
  procs.benchmark = processCpu(process.pid);
  return { at: now(), procs, machine: machineCpu(), cores: os.cpus().length };
}

/** CPU seconds per wall second of each process (its executors apart), and how busy the machine was. */
export function cpuDelta(a, b, jobs) {
  const wall = (b.at - a.at) / 1000;
  const parts = [];
  let platformSelf = 0;
  let executors = 0;
  for (const [name, x] of Object.entries(b.procs)) {
    const y = a.procs[name];
    if (!x || !y) continue;
    const self = x.self - y.self;
    const kids = x.children - y.children;
    if (name !== 'benchmark') {
      platformSelf += self;
      executors += kids;
    }
    parts.push(
      `${name} ${(self / wall).toFixed(2)}${kids > 0.005 ? ` (+ executors ${(kids / wall).toFixed(2)})` : ''}`,
    );
  }
  const m = (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total);
  const perJob = jobs > 0 ? ((platformSelf + executors) / jobs) * 1000 : NaN;
  return {
    text: `cores busy per wall second: ${parts.join(', ')}; whole machine ${Number.isFinite(m) ? `${Math.round(m * 100)} % of ${b.cores} cores` : 'n/a'}`,
    perJobMs: perJob,
    machineBusy: m,
  };
}

// ---------------------------------------------------------------------------------------------
// Printing helpers beyond report.mjs

/** A target on an absolute figure: prints met / NOT met and returns whether it was. */
export function target(label, value, { atMost, atLeast, unit = '' }) {
  const met = atMost !== undefined ? value <= atMost : value >= atLeast;
  const t = atMost !== undefined ? `≤ ${atMost}${unit}` : `≥ ${atLeast}${unit}`;
  const v = typeof value === 'number' && Number.isFinite(value) ? Math.round(value * 10) / 10 : value;
  process.stdout.write(
    `${`target ${label}`.padEnd(44)} ${v}${unit}  (target ${t}: ${met ? 'met' : 'NOT met'})\n`,
  );
  return met;
}

/** Which code was measured: the commit, whether the tree had changes, when the services were built. */
export function describeBuild() {
  let commit = 'unknown commit';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync(
      'git',
      ['--no-optional-locks', 'status', '--porcelain', '--', 'services', 'libs'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    ).trim();
    if (dirty) commit += ' + uncommitted changes in services/libs';
  } catch {
    /* not a git checkout */
  }
  let built = 'unknown';
  try {
    built = statSync(path.join(root, 'services', 'job-runner', 'dist', 'runner.js')).mtime.toISOString();
  } catch {
    /* not built */
  }
  return `code: ${commit}; job-runner built ${built}`;
}

/** Prints which code was measured (describeBuild) and the runners' extra environment, if any. */
export function printSetup(runnerEnv) {
  line(describeBuild());
  if (Object.keys(runnerEnv).length > 0)
    line(
      `runner environment: ${Object.entries(runnerEnv)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
}

/** A plain line of text on stdout. */
export function line(text = '') {
  process.stdout.write(`${text}\n`);
}

/** The median of a list (for per-hop breakdowns). */
export function median(values) {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

export const ms = (v) => (Number.isFinite(v) ? `${Math.round(v * 10) / 10} ms` : 'n/a');
