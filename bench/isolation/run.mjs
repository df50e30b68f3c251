#!/usr/bin/env node
// The cost of the job boundary (issue 13, ADR 0013): the same chain of no-op jobs on the standalone
// platform with JOBS_ISOLATION=none (the baseline: executors as plain child processes) and with the
// boundary as shipped (bubblewrap, a uid per job, cgroup, rlimits; network none), and with
// JOBS_NETWORK=egress (slirp4netns per job), each warm (2 pre-started executors, the default) and
// cold (JOBS_WARM_EXECUTORS=0). Rounds interleave the variants, so the machine's noise falls on all
// of them alike; the figures are medians of per-job latency (POST → FINISHED seen, polled every
// 5 ms) and CPU per job of the platform and its executors, with the ratio to the baseline.
//   node bench/isolation/run.mjs [--jobs N] [--rounds R] [--quick]
// Build first (npm run build). Needs Linux, root, bubblewrap and slirp4netns; no infrastructure.
import { header, progress, ratio, row, summary } from '../lib/report.mjs';
import {
  cli,
  countOpt,
  cpuDelta,
  cpuSnapshot,
  line,
  main,
  median,
  ms,
  pollJobs,
  preparePlatform,
  runOne,
} from '../lib/platform.mjs';

const USAGE = `Usage: node bench/isolation/run.mjs [--jobs N] [--rounds R] [--quick]
  --jobs N     jobs per variant and round (default 20; --quick: 3)
  --rounds R   interleaved rounds (default 3; --quick: 1)
  --quick      a smoke run for CI
`;
const opts = cli(['jobs', 'rounds', 'quick'], USAGE);
const quick = Boolean(opts.quick);
const JOBS = Math.max(1, countOpt(opts, 'jobs', quick ? 3 : 20));
const ROUNDS = Math.max(1, countOpt(opts, 'rounds', quick ? 1 : 3));

const VARIANTS = [
  { name: 'none, warm', env: { JOBS_ISOLATION: 'none' } },
  { name: 'bwrap, warm', env: {} },
  { name: 'bwrap+egress, warm', env: { JOBS_NETWORK: 'egress' } },
  { name: 'none, cold', env: { JOBS_ISOLATION: 'none', JOBS_WARM_EXECUTORS: '0' } },
  { name: 'bwrap, cold', env: { JOBS_WARM_EXECUTORS: '0' } },
  { name: 'bwrap+egress, cold', env: { JOBS_NETWORK: 'egress', JOBS_WARM_EXECUTORS: '0' } },
];

await main(
  async () => {
    header('Cost of the job boundary (issue 13)');
    line(
      `${ROUNDS} round(s) × ${VARIANTS.length} variants × ${JOBS} sequential no-op jobs on the standalone platform;`,
    );
    line(
      'latency: POST /api/jobconfigs/{id}/jobs sent → FINISHED seen (5 ms polls); CPU: platform + executors per job.',
    );
    const live = [];
    for (const v of VARIANTS) {
      const prepared = await preparePlatform('standalone', { runnerEnv: v.env });
      const watcher = pollJobs(prepared.client, { intervalMs: 5 });
      // One job first: loads what the first job loads, fills the package cache.
      await runOne({ ...prepared, watcher });
      live.push({ ...v, prepared, watcher, latencies: [], cpuPerJob: [] });
    }
    for (let r = 1; r <= ROUNDS; r++) {
      for (const v of live) {
        const before = cpuSnapshot(v.prepared.platform);
        for (let i = 0; i < JOBS; i++) {
          const one = await runOne({ ...v.prepared, watcher: v.watcher });
          v.watcher.book.forget(one.id);
          v.latencies.push(one.finished.at - one.sent);
        }
        // The whole machine's busy CPU per job: executors inside bubblewrap are reaped by its init, so
        // their CPU reaches the platform's counters late (warm ones a round later); the machine's does not.
        const after = cpuSnapshot(v.prepared.platform);
        const d = cpuDelta(before, after, JOBS);
        v.cpuPerJob.push((d.machineBusy * after.cores * (after.at - before.at)) / JOBS);
        progress(`round ${r}/${ROUNDS}: ${v.name}: median ${ms(median(v.latencies))}`);
      }
    }
    for (const v of live) await v.watcher.close?.();
    line();
    for (const v of live) row(`${v.name} latency`, summary(v.latencies));
    line();
    const by = Object.fromEntries(live.map((v) => [v.name, v]));
    for (const mode of ['warm', 'cold']) {
      const base = by[`none, ${mode}`];
      for (const variant of [`bwrap, ${mode}`, `bwrap+egress, ${mode}`]) {
        const v = by[variant];
        const dl = median(v.latencies) - median(base.latencies);
        const dc = median(v.cpuPerJob) - median(base.cpuPerJob);
        line(
          `${variant.padEnd(20)} latency ${ms(median(v.latencies))} vs ${ms(median(base.latencies))} (+${ms(dl)} per job); CPU ${ms(median(v.cpuPerJob))} vs ${ms(median(base.cpuPerJob))} per job (+${ms(dc)})`,
        );
        ratio(`${variant} / none latency`, median(v.latencies) / median(base.latencies));
      }
    }
  },
  { name: 'bench/isolation' },
);
