#!/usr/bin/env node
// Sustained throughput (issue 8), distributed platform: open-loop submission of no-op jobs at rising
// rates (default 500, 1000, 2000, 3000, 4000 runs/min), each for --seconds (default 60), with 1 and
// with 2 runners (each with the default 2 slots).
//   - open loop: POST /api/jobconfigs/{id}/jobs is sent every 60000/rate ms whatever happened to the
//     earlier ones; submit→FINISHED is measured from the moment a request was due (its scheduled
//     time) to its FINISHED event on `<prefix>job.status` (plain kafkajs consumer), so a slow API
//     counts against the platform;
//   - a rate fails when a job is refused or fails, when jobs have not finished --drain-seconds
//     (default 30) after the last submission, or when p99 submit→FINISHED ≥ 1 s; the first failure
//     stops the escalation. Between rates the platform drains (every job of the rate finished) and
//     rests --pause seconds (default 3);
//   - warm-up: --warmup jobs (default 10) one at a time before the first rate, excluded;
//   - baseline, same run and broker: bare kafkajs, a ~400-byte message produced every 60000/rate ms
//     (open loop too) at each rate the platform was run at, for --baseline-seconds (default 20),
//     each timed from its scheduled moment until the consumer receives it; ratio platform p50 /
//     kafkajs p50 at the same rate.
// Target: ≥ 3,000 runs/min with p99 submit→FINISHED < 1 s. Build first; needs . .infra/env.
import { header, progress, ratio, row, summary } from '../lib/report.mjs';
import {
  cli,
  countOpt,
  cpuDelta,
  cpuSnapshot,
  infra,
  kafkaBaseline,
  line,
  listOpt,
  main,
  now,
  numberOpt,
  preparePlatform,
  printSetup,
  runnerEnvOpt,
  runOne,
  schedule,
  sleep,
  target,
  watchStatusTopic,
} from '../lib/platform.mjs';

const USAGE = `Usage: node bench/throughput/run.mjs [--rates 500,1000,...] [--seconds S] [--runners 1,2]
                                     [--drain-seconds S] [--baseline-seconds S] [--warmup N] [--pause S]
                                     [--runner-env K=V,...] [--partitions N] [--quick]
  --rates            runs/min, in rising order (default 250,500,750,1000,1500,2000,3000; --quick: 250)
  --seconds S        length of each rate (default 60; --quick: 10)
  --runners          runner processes, one platform per count (default 1,2; --quick: 1)
  --drain-seconds S  how long after the last submission jobs may still finish (default 30)
  --baseline-seconds S  length of each kafkajs baseline rate (default 20; --quick: 10)
  --warmup N         warm-up jobs per platform, excluded (default 10; --quick: 3)
  --pause S          rest between rates once drained (default 3)
  --runner-env K=V,K=V  extra environment of the runners (e.g. JOBS_WARM_EXECUTORS=2)
  --partitions N     partitions of the platform's topics (default 6, as the chart)
  --quick            a smoke run for CI
`;

const opts = cli(
  [
    'rates',
    'seconds',
    'runners',
    'drain-seconds',
    'baseline-seconds',
    'warmup',
    'pause',
    'runner-env',
    'partitions',
    'quick',
  ],
  USAGE,
);
const quick = Boolean(opts.quick);
const positive = (name) => (v) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: "${v}" is not a positive number`);
  return n;
};
const RATES = listOpt(
  opts,
  'rates',
  quick ? [250] : [250, 500, 750, 1000, 1500, 2000, 3000],
  positive('rates'),
);
const SECONDS = numberOpt(opts, 'seconds', quick ? 10 : 60);
const RUNNERS = listOpt(opts, 'runners', quick ? [1] : [1, 2], positive('runners')).map(Math.round);
const DRAIN_S = numberOpt(opts, 'drain-seconds', 30);
const BASELINE_S = numberOpt(opts, 'baseline-seconds', quick ? 10 : 20);
const WARMUP = countOpt(opts, 'warmup', quick ? 3 : 10);
const PAUSE_S = countOpt(opts, 'pause', 3);
const RUNNER_ENV = runnerEnvOpt(opts);
// The chart's default: 6 partitions per topic (each runner slot needs a partition of job.requests).
const PARTITIONS = Math.round(numberOpt(opts, 'partitions', 6));
const LIMIT_MS = 1000;

/** One rate on a running platform: open-loop submissions, then wait for every FINISHED. */
async function runRate(prepared, watcher, rate) {
  const { client, configId } = prepared;
  const jobs = [];
  const posts = [];
  const cpu0 = cpuSnapshot(prepared.platform);
  const sched = await schedule(rate, SECONDS, (due) => {
    const j = { due, id: undefined, error: undefined, answeredAt: undefined };
    jobs.push(j);
    posts.push(
      client.submit(configId).then(
        (s) => {
          j.id = s.id;
          j.answeredAt = s.at;
          watcher.track(s.id);
        },
        (err) => {
          j.error = err;
        },
      ),
    );
  });
  const submittedAt = now();
  progress(`  ${rate}/min: ${jobs.length} submitted; draining (up to ${DRAIN_S} s)…`);
  const deadline = submittedAt + DRAIN_S * 1000;
  await Promise.race([Promise.allSettled(posts), sleep(Math.max(1, deadline - now()))]);
  const accepted = jobs.filter((j) => j.id);
  const outcomes = await Promise.allSettled(
    accepted.map((j) => watcher.book.wait(j.id, 'FINISHED', Math.max(1, deadline - now()))),
  );
  const cpu = cpuDelta(cpu0, cpuSnapshot(prepared.platform), accepted.length);
  const latencies = [];
  let failed = 0;
  let unfinished = 0;
  const endings = new Map();
  let firstFailed;
  const queued = [];
  const served = [];
  const slots = [];
  outcomes.forEach((o, i) => {
    if (o.status === 'fulfilled') {
      latencies.push(o.value.at - accepted[i].due);
      // Where the time goes: waiting for the runner (until INITIALIZING is seen), then the job itself.
      const init = watcher.book.seen(accepted[i].id, 'INITIALIZING');
      if (init) {
        queued.push(init.at - accepted[i].due);
        served.push(o.value.at - init.at);
        slots.push([init.at, o.value.at]);
      }
    } else if (o.reason?.kind === 'ended') {
      failed++;
      firstFailed ??= accepted[i].id;
      const k = `${o.reason.status}${o.reason.reason ? ` ${o.reason.reason}` : ''}`;
      endings.set(k, (endings.get(k) ?? 0) + 1);
    } else unfinished++;
    watcher.book.forget(accepted[i].id);
  });
  if (firstFailed) {
    const log = await client.call('GET', `/api/jobs/${firstFailed}/log`);
    progress(
      `  failed jobs: ${[...endings].map(([k, n]) => `${n} ${k}`).join(', ')}; the log of ${firstFailed}:\n${log.text.split('\n').slice(-15).join('\n')}`,
    );
  }
  const refused = jobs.filter((j) => j.error).length;
  const unanswered = jobs.length - accepted.length - refused;
  const lastAnswer = Math.max(...accepted.map((j) => j.answeredAt));
  const spanMs = Math.max(SECONDS * 1000, (Number.isFinite(lastAnswer) ? lastAnswer : 0) - jobs[0].due);
  const s = summary(latencies);
  const post = summary(accepted.map((j) => j.answeredAt - j.due));
  const why = [];
  if (refused + unanswered > 0) why.push(`${refused + unanswered} not accepted`);
  if (failed > 0) why.push(`${[...endings].map(([k, n]) => `${n} ${k}`).join(', ')}`);
  if (unfinished > 0) why.push(`${unfinished} unfinished after ${DRAIN_S} s`);
  if (!(s.p99 < LIMIT_MS)) why.push(`p99 ≥ ${LIMIT_MS / 1000} s`);
  if (refused > 0) progress(`  first refusal: ${jobs.find((j) => j.error).error.message}`);
  return {
    rate,
    acceptedPerMin: Math.round((accepted.length / spanMs) * 60_000),
    submitted: jobs.length,
    accepted: accepted.length,
    finished: latencies.length,
    failed,
    unfinished,
    post,
    latency: s,
    schedulerLateMs: Math.round(sched.maxLateMs),
    cpu,
    queued: summary(queued),
    served: summary(served),
    running: concurrency(slots),
    ok: why.length === 0,
    why,
  };
}

/**
 * How many jobs held a runner slot at once, from INITIALIZING seen to FINISHED seen (both ends seen
 * through the same topic hop): the most at any moment, and the mean over the time any job held one.
 */
function concurrency(intervals) {
  const edges = intervals.flatMap(([a, b]) => [
    [a, 1],
    [b, -1],
  ]);
  edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let n = 0;
  let max = 0;
  let busy = 0;
  let area = 0;
  let last = edges[0]?.[0] ?? 0;
  for (const [t, d] of edges) {
    if (n > 0) {
      busy += t - last;
      area += n * (t - last);
    }
    n += d;
    max = Math.max(max, n);
    last = t;
  }
  return { max, mean: busy > 0 ? Math.round((area / busy) * 100) / 100 : 0 };
}

/** Waits until no job of the configuration is waiting or running (10 min at most). */
async function drain({ client, configId }) {
  const q = `/api/jobconfigs/${configId}/jobs?status=SEQUENCED,QUEUED,INITIALIZING,RUNNING&size=1`;
  const deadline = now() + 10 * 60_000;
  for (;;) {
    const left = (await client.call('GET', q, { expect: 200 })).json.totalRecords;
    if (left === 0) return;
    if (now() > deadline) throw new Error(`${left} job(s) still unfinished after 10 min of draining`);
    await sleep(500);
  }
}

await main(async () => {
  header('Sustained throughput (issue 8)');
  printSetup(RUNNER_ENV);
  const brokers = infra().kafkaBrokers;
  line(
    `distributed platform, no-op jobs, open-loop submission at ${RATES.join(', ')} runs/min for ${SECONDS} s each, with ${RUNNERS.join(' and ')} runner(s) (2 slots each);`,
  );
  line(
    `submit→FINISHED from each request's scheduled moment to its FINISHED event; ${WARMUP} warm-up job(s) per platform excluded; a rate fails on p99 ≥ 1 s, a refused or failed job, or jobs unfinished ${DRAIN_S} s after the last submission.`,
  );
  const results = [];
  for (const runners of RUNNERS) {
    // A short runner grace period only shortens the final shutdown when a failed rate left jobs behind.
    const prepared = await preparePlatform('distributed', {
      runners,
      runnerEnv: { RUNNER_GRACE_MS: '2000', ...RUNNER_ENV },
      env: PARTITIONS ? { jobconfig: { KAFKA_TOPIC_PARTITIONS: String(PARTITIONS) } } : {},
    });
    const r = { runners, label: prepared.platform.label, rates: [] };
    results.push(r);
    try {
      const watcher = await watchStatusTopic(prepared.platform);
      for (let i = 0; i < WARMUP; i++) watcher.book.forget((await runOne({ ...prepared, watcher })).id);
      for (const rate of RATES) {
        progress(`${r.label}: ${rate} runs/min for ${SECONDS} s…`);
        const x = await runRate(prepared, watcher, rate);
        progress(
          `  ${rate}/min: ${x.finished}/${x.submitted} finished, p50 ${x.latency.p50} ms, p99 ${x.latency.p99} ms${x.ok ? '' : ` — failed: ${x.why.join(', ')}`}`,
        );
        r.rates.push(x);
        if (!x.ok) break;
        await drain(prepared);
        await sleep(PAUSE_S * 1000);
      }
      await watcher.close();
    } catch (err) {
      progress(`the platform's last output:\n${prepared.platform.diagnostics()}`);
      throw err;
    } finally {
      await prepared.platform.stop();
    }
  }

  const attempted = RATES.filter((rate) => results.some((r) => r.rates.some((x) => x.rate === rate)));
  const baseline = new Map();
  const b = await kafkaBaseline({ brokers });
  try {
    await b.sequential(20); // warm-up of the baseline's own clients, not counted
    for (const rate of attempted) {
      progress(`baseline: kafkajs at ${rate}/min for ${BASELINE_S} s…`);
      const o = await b.openLoop(rate, BASELINE_S);
      baseline.set(rate, { ...summary(o.samples), lost: o.lost, perMin: Math.round(o.achievedPerMin) });
    }
  } finally {
    await b.close();
  }

  line();
  line(`baseline: ${b.describe}; open loop, ${BASELINE_S} s per rate`);
  for (const rate of attempted) {
    const x = baseline.get(rate);
    row(`  kafkajs ${rate}/min`, {
      'sent/min': x.perMin,
      n: x.n,
      lost: x.lost,
      p50: `${x.p50} ms`,
      p99: `${x.p99} ms`,
    });
  }
  for (const r of results) {
    line();
    line(`${r.label}, 2 slots per runner, ${PARTITIONS} partitions per topic`);
    for (const x of r.rates) {
      row(`  ${x.rate}/min`, {
        'accepted/min': x.acceptedPerMin,
        finished: `${x.finished}/${x.submitted}`,
        failed: x.failed,
        unfinished: x.unfinished,
        'POST p50': `${x.post.p50} ms`,
        p50: `${x.latency.p50} ms`,
        p99: `${x.latency.p99} ms`,
        verdict: x.ok ? 'ok' : `FAILED (${x.why.join(', ')})`,
      });
      line(
        `    where the time goes (medians): due → INITIALIZING seen ${x.queued.p50} ms (waiting for a runner slot), → FINISHED seen ${x.served.p50} ms (p99 ${x.served.p99} ms); jobs holding a slot at once: mean ${x.running.mean}, max ${x.running.max}`,
      );
      line(`    CPU, submission to drained (${Math.round(x.cpu.perJobMs)} ms of CPU per job): ${x.cpu.text}`);
      const bx = baseline.get(x.rate);
      if (bx && x.finished > 0) ratio(`    p50 / kafkajs p50 at ${x.rate}/min`, x.latency.p50 / bx.p50);
      if (x.schedulerLateMs > 50)
        line(`    (this process sent a request up to ${x.schedulerLateMs} ms late: the machine was busy)`);
    }
    const best = r.rates.filter((x) => x.ok).map((x) => x.rate);
    const top = best.length > 0 ? Math.max(...best) : 0;
    line(
      `  highest rate with p99 < 1 s: ${top > 0 ? `${top.toLocaleString('en-US')} runs/min` : `none (lowest tried: ${RATES[0]}/min)`}`,
    );
    if (top === 0) line(`  (to find where it holds, try lower rates, e.g. --rates 60,120,240,${RATES[0]})`);
    target(`${r.label} sustained rate`, top, { atLeast: 3000, unit: ' runs/min' });
  }
  line();
  line(
    'published anchor: Kestra (Kafka-backed edition) holds 0.45 s at 2,000 runs/min and saturates at 2,500/min on 4 vCPU plus a separate DB.',
  );
  line(
    'figures measured on a shared machine are preliminary; run with nothing else on it for published figures.',
  );
});
