#!/usr/bin/env node
// Dispatch latency (issue 8): how long after a run request is accepted does a job start, and end?
//   - for each of N jobs of a no-op package (default 500): from the moment the 202 answer of
//     POST /api/jobconfigs/{id}/jobs arrives to the moment the job's RUNNING event, then its
//     FINISHED event, is seen;
//   - distributed: the events are read from the `<prefix>job.status` topic with a plain kafkajs
//     consumer; standalone (no Kafka: its bus is in-process): GET /api/jobs/{id} polled every
//     --poll-ms (default 5) after the previous answer, so the standalone figures are late by up to
//     one poll period; the platform's own timestamps (`started`, `finished`, millisecond resolution,
//     same clock) are printed beside them for both;
//   - pace: one job in flight, each submitted once the previous one's FINISHED was seen, so no job
//     waits for a runner slot: this measures latency, not saturation (bench/throughput does that);
//   - warm-up: --warmup jobs (default 10) per platform before the measured ones, excluded;
//   - baseline, same run and broker: bare kafkajs, N single messages produced one at a time, each
//     timed from the send call until the consumer receives it.
// Targets (distributed, to RUNNING): p50 ≤ 50 ms, p99 ≤ 200 ms.
// Build first (npm run build); needs the infrastructure's environment (. .infra/env).
import { header, progress, ratio, row, summary } from '../lib/report.mjs';
import {
  CONSUMER_SETTINGS,
  NOOP_PACKAGE,
  cli,
  countOpt,
  cpuDelta,
  cpuSnapshot,
  infra,
  kafkaBaseline,
  line,
  main,
  median,
  ms,
  numberOpt,
  platformsOpt,
  preparePlatform,
  printSetup,
  runnerEnvOpt,
  runOne,
  target,
  watchJobs,
} from '../lib/platform.mjs';

const USAGE = `Usage: node bench/dispatch/run.mjs [--jobs N] [--warmup N] [--platforms distributed,standalone]
                                   [--poll-ms MS] [--runner-env K=V,...] [--quick]
  --jobs N        measured jobs per platform (default 500; --quick: 20)
  --warmup N      warm-up jobs per platform, excluded from the figures (default 10; --quick: 3)
  --platforms     which platforms (default distributed,standalone)
  --poll-ms MS    standalone: GET /api/jobs/{id} poll interval (default 5)
  --runner-env K=V,K=V  extra environment of the runner(s) and of the standalone process
  --quick         a smoke run for CI
`;

const opts = cli(['jobs', 'warmup', 'platforms', 'poll-ms', 'runner-env', 'quick'], USAGE);
const quick = Boolean(opts.quick);
const JOBS = Math.max(1, countOpt(opts, 'jobs', quick ? 20 : 500));
const WARMUP = countOpt(opts, 'warmup', quick ? 3 : 10);
const POLL_MS = numberOpt(opts, 'poll-ms', 5);
const RUNNER_ENV = runnerEnvOpt(opts);
const PLATFORMS = platformsOpt(opts, ['distributed', 'standalone']);

/** Jobs one after the other; returns one sample per job. */
async function measure(prepared, watcher, count, what) {
  const samples = [];
  for (let i = 0; i < count; i++) {
    const r = await runOne({ ...prepared, watcher });
    r.initializing = watcher.book.seen(r.id, 'INITIALIZING');
    watcher.book.forget(r.id);
    samples.push(r);
    if ((i + 1) % 50 === 0 || i + 1 === count) progress(`${what}: ${i + 1}/${count} jobs`);
  }
  return samples;
}

function analyse(samples, jobs) {
  const toRunning = samples.map((s) => s.running.at - s.at);
  const toFinished = samples.map((s) => s.finished.at - s.at);
  const post = samples.map((s) => s.at - s.sent);
  const missed = samples.filter((s) => s.running.missed).length;
  // The platform's own timestamps: the runner's clock when it reported RUNNING and FINISHED.
  const own = samples.map((s) => {
    const j = jobs.get(s.id);
    return { started: Date.parse(j?.started ?? ''), finished: Date.parse(j?.finished ?? '') };
  });
  const ownRunning = own.map((o, i) => o.started - samples[i].at).filter(Number.isFinite);
  const ownFinished = own.map((o, i) => o.finished - samples[i].at).filter(Number.isFinite);
  // Distributed only: where the time goes, from the events' own timestamps.
  const hops = {};
  const ev = samples.filter((s) => s.running.detail?.data && s.finished.detail?.data && s.initializing);
  if (ev.length > 0) {
    const med = (f) => median(ev.map(f));
    const runIdx = (s) => samples.indexOf(s);
    hops.postToInitializing = med((s) => s.initializing.at - s.at);
    hops.initializingToRunning = med((s) => s.running.at - s.initializing.at);
    hops.runningToFinished = med((s) => s.finished.at - s.running.at);
    for (const [name, key, status] of [
      ['running', 'started', 'running'],
      ['finished', 'finished', 'finished'],
    ]) {
      hops[name] = {
        reportToApplied: med((s) => Date.parse(s[status].detail.data.occurredAt) - own[runIdx(s)][key]),
        appliedToBuilt: med(
          (s) => Date.parse(s[status].detail.time) - Date.parse(s[status].detail.data.occurredAt),
        ),
        builtToSeen: med((s) => s[status].at - Date.parse(s[status].detail.time)),
      };
    }
  }
  return {
    toRunning: summary(toRunning),
    toFinished: summary(toFinished),
    post: summary(post),
    ownRunning: summary(ownRunning),
    ownFinished: summary(ownFinished),
    missed,
    hops,
  };
}

await main(async () => {
  header('Dispatch latency (issue 8)');
  printSetup(RUNNER_ENV);
  const brokers = infra().kafkaBrokers;
  line(
    `${JOBS} measured no-op jobs per platform (${NOOP_PACKAGE.entryPoint}: ${NOOP_PACKAGE.source.trim()}), after ${WARMUP} warm-up job(s) excluded from the figures;`,
  );
  line(
    `one job in flight (each submitted once the previous one's FINISHED was seen); clock starts at the 202.`,
  );
  const results = {};
  let baseline;
  const runBaseline = async () => {
    progress(`baseline: ${JOBS} kafkajs round trips…`);
    const b = await kafkaBaseline({ brokers });
    try {
      const { samples } = await b.sequential(JOBS);
      return { describe: b.describe, figures: summary(samples) };
    } finally {
      await b.close();
    }
  };

  for (const kind of PLATFORMS) {
    const prepared = await preparePlatform(kind, { runners: 1, runnerEnv: RUNNER_ENV });
    try {
      const watcher = await watchJobs(prepared, { pollMs: POLL_MS });
      results[kind] = { how: watcher.how, label: prepared.platform.label };
      if (WARMUP > 0) await measure(prepared, watcher, WARMUP, `${kind} warm-up`);
      // The baseline runs on the same broker while the distributed platform is up and idle.
      if (!baseline && (kind === 'distributed' || !PLATFORMS.includes('distributed')))
        baseline = await runBaseline();
      const cpu0 = cpuSnapshot(prepared.platform);
      const samples = await measure(prepared, watcher, JOBS, kind);
      results[kind].cpu = cpuDelta(cpu0, cpuSnapshot(prepared.platform), JOBS);
      await watcher.close();
      Object.assign(results[kind], analyse(samples, await prepared.client.jobsOf(prepared.configId)));
    } catch (err) {
      progress(`${kind} failed; the platform's last output:\n${prepared.platform.diagnostics()}`);
      throw err;
    } finally {
      await prepared.platform.stop();
    }
  }

  line();
  line(`baseline: ${baseline.describe}`);
  row('kafkajs produce → consume, one at a time', baseline.figures);
  for (const kind of PLATFORMS) {
    const r = results[kind];
    line();
    line(`${r.label}; status seen via ${r.how}`);
    row('  POST …/jobs round trip', r.post);
    row('  202 → RUNNING seen', r.toRunning);
    row('  202 → FINISHED seen', r.toFinished);
    row("  202 → runner's RUNNING stamp (1 ms res.)", r.ownRunning);
    row("  202 → runner's FINISHED stamp", r.ownFinished);
    if (r.missed > 0)
      line(`  RUNNING not seen by polling for ${r.missed} job(s): counted when FINISHED was seen`);
    line(`  CPU while measuring (${Math.round(r.cpu.perJobMs)} ms of platform CPU per job): ${r.cpu.text}`);
    const h = r.hops;
    if (h.running) {
      line(
        '  where the time goes (medians, ms-resolution timestamps of runner, jobconfig and this process):',
      );
      line(
        `    202 → INITIALIZING seen ${ms(h.postToInitializing)}; → RUNNING seen ${ms(h.initializingToRunning)} (runner prepares: workspace, log, package fetch/unpack); → FINISHED seen ${ms(h.runningToFinished)} (executor process, uploads, clean-up)`,
      );
      for (const [name, x] of [
        ['RUNNING', h.running],
        ['FINISHED', h.finished],
      ])
        line(
          `    ${name}: runner reports → jobconfig applies ${ms(x.reportToApplied)} (progress topic + job read); → event built ${ms(x.appliedToBuilt)} (DB update, re-read); → seen here ${ms(x.builtToSeen)} (status topic)`,
        );
    }
  }
  line();
  line(
    `observer and baseline consumers: maxWaitTimeInMs ${CONSUMER_SETTINGS.maxWaitTimeInMs}, minBytes ${CONSUMER_SETTINGS.minBytes} (a fetch returns as soon as a record is there)`,
  );
  const d = results.distributed;
  if (d) {
    ratio('distributed p50 to RUNNING / baseline p50', d.toRunning.p50 / baseline.figures.p50);
    target('distributed p50 to RUNNING', d.toRunning.p50, { atMost: 50, unit: ' ms' });
    target('distributed p99 to RUNNING', d.toRunning.p99, { atMost: 200, unit: ' ms' });
  }
  if (results.standalone)
    line(
      `standalone (polled, so ≤ ${POLL_MS} ms + one GET late): p50 to RUNNING ${results.standalone.toRunning.p50} ms, p99 ${results.standalone.toRunning.p99} ms (no target of its own)`,
    );
  line(
    'figures measured on a shared machine are preliminary; run with nothing else on it for published figures.',
  );
});
