#!/usr/bin/env node
// API overhead benchmark (issue 8): what the gateway costs on two read endpoints of the distributed
// platform (one process per service on the real PostgreSQL/Kafka/S3 of scripts/infra).
//   - gateway: autocannon against the gateway (`/api/*`: JWT checked at the edge, then proxied);
//   - direct:  the same requests, with the same bearer token, straight to the jobconfig service (which
//              verifies the JWT itself), i.e. without the gateway hop.
// Endpoints: GET /api/jobconfigs/{id} and the first page of GET /api/jobconfigs (after creating
// --configs configurations). Prints req/s, p50 and p99 latency of the 4 cases, the CPU each process
// spent per request, and the gateway/direct throughput ratio of each endpoint (target ≥ 0.75).
//
// Build first (npm run build), start the infrastructure and load its environment (. .infra/env).
// Usage: node bench/api/run.mjs [options]         (npm run bench:api -- [options])
//   --seconds N       measured seconds per case (default 10; --quick: 2)
//   --connections N   autocannon connections (default 10)
//   --warmup N        warm-up seconds before each case (default 3; --quick: 1)
//   --rounds N        rounds of the 4 cases, direct and gateway back to back in alternating order; the
//                     figures are medians and the ratio the median of each round's ratio (default 3; --quick: 1)
//   --configs N       configurations created first (default 50; --quick: 30)
//   --log-level L     the services' LOG_LEVEL (default warn, as the test harness; info logs every request
//                     as in production)
//   --profile DIR     each service writes a V8 CPU profile to DIR/<service>-<pid>.cpuprofile
//   --quick           the CI smoke version
import autocannon from 'autocannon';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineCpu, main, processCpuSeconds, stopAtExit } from '../lib/platform.mjs';
import { header, progress, ratio, row } from '../lib/report.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(root, 'package.json'));

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string' },
    connections: { type: 'string' },
    configs: { type: 'string' },
    warmup: { type: 'string' },
    rounds: { type: 'string' },
    profile: { type: 'string' },
    'log-level': { type: 'string' },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(
    'Usage: node bench/api/run.mjs [--seconds 10] [--connections 10] [--warmup 3] [--rounds 3] [--configs 50] [--log-level warn] [--profile DIR] [--quick]\n',
  );
  process.exit(0);
}
const num = (v, dflt, name) => {
  const n = v === undefined ? dflt : Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`--${name} must be a positive number (got ${v}).\n`);
    process.exit(2);
  }
  return n;
};
const SECONDS = num(args.seconds, args.quick ? 2 : 10, 'seconds');
const CONNECTIONS = Math.round(num(args.connections, 10, 'connections'));
const CONFIGS = Math.round(num(args.configs, args.quick ? 30 : 50, 'configs'));
const WARMUP = num(args.warmup, args.quick ? 1 : 3, 'warmup');
const ROUNDS = Math.round(num(args.rounds, args.quick ? 1 : 3, 'rounds'));
const TARGET = 0.75;

for (const s of ['gateway', 'auth', 'jobconfig', 'file-storage']) {
  const entry = path.join(root, 'services', s, 'dist', 'main.js');
  if (!existsSync(entry)) {
    process.stderr.write(`${entry} is missing: run "npm run build" first.\n`);
    process.exit(1);
  }
}
const testing = path.join(root, 'libs', 'testing', 'dist', 'index.js');
if (!existsSync(testing)) {
  process.stderr.write(`${testing} is missing: run "npm run build" first.\n`);
  process.exit(1);
}
const { startDistributed } = require('@im/testing');

/**
 * --log-level for every service; with --profile DIR every service records a CPU profile into DIR
 * (bench/api/cpu-profile.cjs).
 */
function serviceEnv() {
  const all = args['log-level'] ? { LOG_LEVEL: args['log-level'] } : {};
  if (!args.profile) return { '*': all };
  const preload = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cpu-profile.cjs');
  mkdirSync(args.profile, { recursive: true });
  return {
    '*': {
      ...all,
      NODE_OPTIONS: `--require ${JSON.stringify(preload)}`,
      BENCH_PROFILE_DIR: path.resolve(args.profile),
    },
  };
}

// ------------------------------------------------------------------------------------ load
/** The autocannon run in progress, stopped on SIGINT/SIGTERM (main's onSignal). */
let currentRun;

function cannon(opts) {
  return new Promise((resolve, reject) => {
    currentRun = autocannon(opts, (err, result) => {
      currentRun = undefined;
      if (err) reject(err);
      else resolve(result);
    });
  });
}

/** A warm-up, then a measured autocannon run, with the CPU each process used meanwhile. */
async function measure(label, url, headers, pids) {
  const base = { url, connections: CONNECTIONS, headers };
  progress(`${label}: warm-up ${WARMUP} s`);
  await cannon({ ...base, duration: WARMUP });
  progress(`${label}: measuring ${SECONDS} s`);
  const before = Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, processCpuSeconds(pid)]));
  const selfBefore = process.cpuUsage();
  const machineBefore = machineCpu();
  const t0 = process.hrtime.bigint();
  const r = await cannon({ ...base, duration: SECONDS });
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const machineAfter = machineCpu();
  const self = process.cpuUsage(selfBefore);
  const requests = r.requests.total;
  const failed = r.non2xx + r.errors + r.timeouts;
  if (requests === 0 || failed > requests * 0.001)
    throw new Error(
      `${label}: ${failed} of ${requests} requests failed (non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}).`,
    );
  const cpuPerRequest = {};
  let oursMs = (self.user + self.system) / 1000;
  for (const [n, pid] of Object.entries(pids)) {
    const ms = (processCpuSeconds(pid) - before[n]) * 1000;
    oursMs += ms;
    cpuPerRequest[n] = Math.round((ms * 1000) / requests);
  }
  cpuPerRequest.autocannon = Math.round((self.user + self.system) / requests);
  // Cores busy with anything but this benchmark and the two services: PostgreSQL, other work.
  const busyMs = (machineAfter.busy - machineBefore.busy) * 1000;
  const otherCores = Math.max(0, (busyMs - oursMs) / 1000 / elapsed);
  return {
    label,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests,
    failed,
    cpuPerRequest,
    machineBusy: (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total),
    otherCores,
  };
}

// ------------------------------------------------------------------------------------ main
async function benchmark() {
  header('API overhead: gateway vs direct to the jobconfig service (issue 8)');
  process.stdout.write(
    `autocannon: ${CONNECTIONS} connections, ${SECONDS} s per case after a ${WARMUP} s warm-up, ` +
      `${ROUNDS} round(s); ${CONFIGS} configurations; services' LOG_LEVEL ${args['log-level'] ?? 'warn'}\n`,
  );

  progress('starting the distributed platform (gateway, auth, jobconfig, file-storage; no runner)');
  const platform = await stopAtExit(startDistributed({ runners: 0, env: serviceEnv() }), 'the platform');
  const gateway = platform.url;
  const direct = platform.urls.jobconfig;
  const pids = { gateway: platform.processes.gateway.pid, jobconfig: platform.processes.jobconfig.pid };
  progress(`pids: gateway ${pids.gateway}, jobconfig ${pids.jobconfig}`);

  const login = await fetch(`${gateway}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: platform.adminPassword }),
  });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`);
  const token = (await login.json()).access_token;
  // The internal token lets the direct requests past the service's port (the gateway replaces it with
  // its own, the same value): both sides send the same headers.
  const auth = { authorization: `Bearer ${token}`, 'x-internal-token': platform.internalToken };

  progress(`creating ${CONFIGS} configurations`);
  const ids = [];
  for (let i = 0; i < CONFIGS; i++) {
    const res = await fetch(`${gateway}/api/jobconfigs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `bench config ${i}`, active: true }),
    });
    if (res.status !== 201) throw new Error(`creating a configuration: ${res.status} ${await res.text()}`);
    ids.push((await res.json()).id);
  }
  const one = ids[Math.floor(ids.length / 2)];

  const endpoints = [
    { name: `GET /api/jobconfigs/{id}`, path: `/api/jobconfigs/${one}` },
    { name: 'GET /api/jobconfigs (first page)', path: '/api/jobconfigs' },
  ];
  // Both sides answer the same thing (apart from the hrefs' host).
  for (const e of endpoints) {
    for (const base of [gateway, direct]) {
      const res = await fetch(`${base}${e.path}`, { headers: auth });
      const body = await res.json();
      if (res.status !== 200) throw new Error(`${base}${e.path}: ${res.status} ${JSON.stringify(body)}`);
      if (e.path === '/api/jobconfigs' && (body.totalRecords < CONFIGS || body.items.length === 0))
        throw new Error(`${base}${e.path}: ${body.totalRecords} configurations, expected ${CONFIGS}`);
    }
  }

  const results = {};
  for (let round = 1; round <= ROUNDS; round++) {
    for (const e of endpoints) {
      // Direct and gateway back to back, so each pair sees the same machine; the order alternates
      // from round to round so that neither side always runs second.
      const sides = [
        ['direct', direct],
        ['gateway', gateway],
      ];
      if (round % 2 === 0) sides.reverse();
      for (const [side, base] of sides) {
        const key = `${e.name} · ${side}`;
        const label = ROUNDS > 1 ? `${key} (round ${round}/${ROUNDS})` : key;
        (results[key] ??= []).push(await measure(label, `${base}${e.path}`, auth, pids));
      }
    }
  }
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const med = (runs, pick) => median(runs.map(pick));
  const r1 = (v) => Math.round(v * 10) / 10;

  process.stdout.write(
    `\n${ROUNDS > 1 ? `Median of ${ROUNDS} rounds; "rounds" lists each round's req/s. ` : ''}` +
      'CPU per request from /proc/<pid>/stat; "other" = cores busy with anything else (PostgreSQL, other work).\n',
  );
  for (const e of endpoints) {
    for (const side of ['direct', 'gateway']) {
      const runs = results[`${e.name} · ${side}`];
      row(`${e.name} · ${side}`, {
        'req/s': Math.round(med(runs, (r) => r.rps)),
        p50: `${r1(med(runs, (r) => r.p50))} ms`,
        p99: `${r1(med(runs, (r) => r.p99))} ms`,
        ...(runs.length > 1 ? { rounds: runs.map((x) => Math.round(x.rps)).join('/') } : {}),
      });
      const cpu = Object.fromEntries(
        Object.keys(runs[0].cpuPerRequest).map((n) => [n, Math.round(med(runs, (r) => r.cpuPerRequest[n]))]),
      );
      if (side === 'direct') delete cpu.gateway;
      row('  CPU µs per request', { ...cpu, other: `${r1(med(runs, (r) => r.otherCores))} cores` });
    }
  }
  process.stdout.write('\n');
  const ratios = {};
  for (const e of endpoints) {
    const d = results[`${e.name} · direct`];
    const g = results[`${e.name} · gateway`];
    const paired = d.map((x, i) => g[i].rps / x.rps);
    process.stdout.write(
      `${e.name}: the gateway adds ${r1(med(g, (r) => r.p50) - med(d, (r) => r.p50))} ms at p50, ` +
        `${r1(med(g, (r) => r.p99) - med(d, (r) => r.p99))} ms at p99` +
        `${paired.length > 1 ? `; ratio of each round ${paired.map((v) => v.toFixed(2)).join('/')}` : ''}\n`,
    );
    ratios[e.name] = ratio(
      `${e.name} · gateway/direct req/s${paired.length > 1 ? ' (median)' : ''}`,
      median(paired),
      { atLeast: TARGET },
    );
  }
  process.stdout.write(
    'Preliminary unless the machine was otherwise idle: autocannon, the services and PostgreSQL share its cores.\n',
  );
  return ratios;
}

await main(benchmark, {
  name: 'bench:api',
  stopping: 'stopping the load and the platform',
  onSignal: () => currentRun?.stop(),
});
