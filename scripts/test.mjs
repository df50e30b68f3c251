#!/usr/bin/env node
// `npm test`: the whole suite, as CI runs it. Builds, starts the real PostgreSQL, Kafka and S3 server
// the integration tests need (scripts/infra, loopback only), runs every jest project, stops what it
// started, and ends with one line "N passed, N failed".
//   npm test -- --selectProjects unit     extra arguments go to jest
//   IM_TEST_INFRA=skip npm test           do not start the infrastructure (unit and e2e only)
//   IM_TEST_CHART=skip npm test           skip the chart checks (the chart e2e test then fails)
//   IM_TEST_BENCH=skip npm test           skip the benchmarks' smoke runs (counted as tests)
//   IM_TEST_FAULTS=skip npm test          skip the fault-injection suite (e2e/faults, run last)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSandboxTools } from './sandbox-tools.mjs';
import { useNode24 } from './runtime.mjs';

// Node 24, fetched once if this machine's Node is another version (scripts/runtime.mjs).
await useNode24();

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => process.stdout.write(`[test] ${msg}\n`);
const timings = [];
let phaseStart = Date.now();
/** Ends the current phase: its duration is printed at the end, so CI shows where time goes. */
const phase = (name) => {
  timings.push([name, (Date.now() - phaseStart) / 1000]);
  phaseStart = Date.now();
};
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });

say('building (tsc -b)...');
if (run('npm', ['run', '--silent', 'build']).status !== 0) {
  say('the build failed; fix the type errors above.');
  process.exit(1);
}

phase('build');

// The Kubernetes checks: helm, kustomize, kubernetes-validate and checkov (fetched from the Go module
// proxy and PyPI on the first run, cached in .infra/tools), lint, schema and security scan of the
// chart, and the k8s/ sync check. The chart e2e test uses the helm binary it leaves behind.
if (process.env.IM_TEST_CHART !== 'skip') {
  say('checking the Helm chart and k8s/ manifests (scripts/chart/check.sh)...');
  if (run('bash', ['scripts/chart/check.sh']).status !== 0) {
    say('the chart checks failed; see the messages above (docs/kubernetes.md explains each check).');
    process.exit(1);
  }
  phase('chart checks');
}

const extra = process.argv.slice(2);
const wantsInfra =
  process.env.IM_TEST_INFRA !== 'skip' && existsSync(join(root, 'scripts', 'infra', 'up.sh'));
const env = { ...process.env };
let startedInfra = false;
if (wantsInfra) {
  say('starting PostgreSQL, Kafka and the S3 server (scripts/infra/up.sh)...');
  if (run('bash', ['scripts/infra/up.sh', 'all']).status !== 0) {
    say(
      'the infrastructure did not start; see the messages above (scripts/infra/README.md explains each part).',
    );
    process.exit(1);
  }
  startedInfra = process.env.IM_KEEP_INFRA !== '1';
  const infraDir = process.env.IM_INFRA_DIR ?? join(root, '.infra');
  for (const line of readFileSync(join(infraDir, 'env'), 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2].replace(/^['"]|['"]$/g, '');
  }
  env.IM_TEST_INFRA = 'up';
  phase('infrastructure up');
}

// Jobs run inside bubblewrap (ADR 0013): the runner and attack tests need it on the machine.
ensureSandboxTools(say);

// The web console's browser test (e2e/console.e2e.test.ts) drives Debian's Chromium through
// playwright-core, which cannot download a browser of its own here. Installed when missing; when that
// fails, the console test fails and says why (it never skips).
if (!existsSync('/usr/bin/chromium')) {
  say("installing Debian's chromium for the console's browser test (apt-get)...");
  const asRoot = process.getuid?.() === 0;
  const apt = (args) =>
    run(asRoot ? 'apt-get' : 'sudo', asRoot ? args : ['-n', 'apt-get', ...args], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  const ok =
    apt(['update']).status === 0 &&
    apt(['install', '-y', '--no-install-recommends', 'chromium']).status === 0 &&
    existsSync('/usr/bin/chromium');
  say(ok ? 'chromium installed.' : 'chromium could not be installed: the console test will fail.');
  phase('chromium install');
}

mkdirSync(join(root, 'test-results'), { recursive: true });
const resultFile = join(root, 'test-results', 'jest.json');
say(`running jest ${extra.join(' ')}`.trim());
const jest = run(
  process.execPath,
  [
    join(root, 'node_modules', 'jest', 'bin', 'jest.js'),
    '--ci',
    // A failed Kafka test can leave a client reconnecting forever; never let that hang the run.
    '--forceExit',
    '--json',
    `--outputFile=${resultFile}`,
    ...extra,
  ],
  { env },
);

phase('jest (unit, integration, e2e)');

// The benchmarks' smoke versions (bench/run-all.mjs --quick): each must run through; no figure is
// judged here (docs/benchmarks.md). Only on a full run with the infrastructure up.
const benchFile = join(root, 'test-results', 'bench-smoke.json');
let bench = [];
if (extra.length === 0 && env.IM_TEST_INFRA === 'up' && process.env.IM_TEST_BENCH !== 'skip') {
  say('running the benchmarks in their smoke versions (IM_TEST_BENCH=skip skips them)...');
  run(process.execPath, [join(root, 'bench', 'run-all.mjs'), '--quick', '--json', benchFile], { env });
  try {
    bench = JSON.parse(readFileSync(benchFile, 'utf8'));
  } catch {
    bench = [{ name: 'bench/run-all.mjs', code: 'no results' }];
  }
  phase('benchmark smoke runs');
}

// The fault-injection suite (e2e/faults, docs/faults.md): it stops and restarts the shared Kafka and
// PostgreSQL, so it runs last, alone, one file at a time in a fixed order (runner and schedule
// scenarios on platforms of their own first, then the Kafka outage, then the PostgreSQL restart),
// and brings every component back up after each file. Only on a full run with the infrastructure up.
const faultFiles = ['runners', 'kafka-outage', 'postgres-restart'];
const faultResults = [];
if (extra.length === 0 && env.IM_TEST_INFRA === 'up' && process.env.IM_TEST_FAULTS !== 'skip') {
  say('running the fault-injection suite (IM_TEST_FAULTS=skip skips it)...');
  for (const name of faultFiles) {
    const out = join(root, 'test-results', `faults-${name}.json`);
    run(
      process.execPath,
      [
        join(root, 'node_modules', 'jest', 'bin', 'jest.js'),
        '--ci',
        '--forceExit',
        '--runInBand',
        '--selectProjects=faults',
        '--json',
        `--outputFile=${out}`,
        '--',
        `e2e/faults/${name}.faults.test.ts`,
      ],
      { env: { ...env, IM_FAULTS: '1' } },
    );
    try {
      faultResults.push(JSON.parse(readFileSync(out, 'utf8')));
    } catch {
      faultResults.push({ numPassedTests: 0, numFailedTests: 1 });
    }
    if (run('bash', ['scripts/infra/up.sh', 'all'], { stdio: 'ignore' }).status !== 0)
      say(`the infrastructure did not come back after e2e/faults/${name}; see scripts/infra/status.sh`);
  }
  phase('fault-injection suite');
}

if (startedInfra) {
  say('stopping the infrastructure (IM_KEEP_INFRA=1 keeps it running)...');
  run('bash', ['scripts/infra/down.sh']);
  phase('infrastructure down');
}
for (const [name, s] of timings) say(`${name.padEnd(30)} ${s.toFixed(1)} s`);

let passed = 0;
let failed = 0;
let skipped = 0;
/** Names every failed test (and suite that failed to run) with the first line of its error. */
const failures = [];
function collectFailures(r) {
  for (const suite of r.testResults ?? []) {
    const file = relative(root, suite.name ?? '');
    const broken = (suite.assertionResults ?? []).filter((t) => t.status === 'failed');
    for (const t of broken) failures.push(`${file} > ${t.fullName}: ${firstLine(t.failureMessages?.[0])}`);
    if (suite.status === 'failed' && broken.length === 0)
      failures.push(`${file}: ${firstLine(suite.message)}`);
  }
}
function firstLine(text) {
  // eslint-disable-next-line no-control-regex
  const plain = String(text ?? '').replace(/\u001b\[[0-9;]*m/g, '');
  const line = plain.split('\n').find((l) => l.trim() && !/^\s*●/.test(l)) ?? '';
  return line.trim().slice(0, 200);
}
try {
  const r = JSON.parse(readFileSync(resultFile, 'utf8'));
  collectFailures(r);
  passed = r.numPassedTests;
  failed = r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
  skipped = r.numPendingTests + r.numTodoTests;
} catch {
  failed = Math.max(failed, 1);
}
for (const r of faultResults) {
  collectFailures(r);
  passed += r.numPassedTests ?? 0;
  failed += (r.numFailedTests ?? 0) + (r.numRuntimeErrorTestSuites ?? 0);
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
const benchFailed = bench.filter((b) => b.code !== 0);
for (const b of benchFailed) failures.push(`bench/${b.name}: the smoke run failed (${b.code})`);
if (failures.length > 0) {
  say(`failed (${failures.length}); the full messages are above and in test-results/*.json:`);
  for (const f of failures) process.stdout.write(`  ✕ ${f}\n`);
}
passed += bench.length - benchFailed.length;
failed += benchFailed.length;
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(jest.status === 0 && failed === 0 ? 0 : 1);
