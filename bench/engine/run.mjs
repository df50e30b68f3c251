#!/usr/bin/env node
// Engine benchmark (issue 4): a CSV of ROWS rows (default 1,000,000) → map 5 fields → JSON Lines.
//   - engine:   the compiled executor (services/job-runner/dist/executor/child.js) running a
//               `transform` step (csv source, JSONata map, jsonl target), as a job would;
//   - baseline: a plain Node stream pipeline in this process doing the same work with the same CSV
//               parser (csv-parse), JSON.stringify and a file write stream.
// Prints rows/s of both, their ratio (engine / baseline; target ≥ 0.5) and the engine's peak RSS
// (target < 200 MB). Build first: npm run build.   Usage: node bench/engine/run.mjs [rows]
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { useNode24 } from '../../scripts/runtime.mjs';

// The figures are Node 24's: fetched once if this machine's Node is another version.
await useNode24();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(root, 'services', 'job-runner', 'package.json'));
const { parse } = require('csv-parse');
const EXECUTOR = path.join(root, 'services', 'job-runner', 'dist', 'executor', 'child.js');
const ROWS = Number(process.argv[2] ?? 1_000_000);

if (!existsSync(EXECUTOR)) {
  process.stderr.write(`${EXECUTOR} is missing: run "npm run build" first.\n`);
  process.exit(1);
}

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-bench-engine-'));
for (const d of ['spec', 'out', 'tmp']) await fs.mkdir(path.join(dir, d));
const csvFile = path.join(dir, 'spec', 'rows.csv');

process.stdout.write(`generating ${ROWS} rows...\n`);
{
  const out = createWriteStream(csvFile);
  out.write('id,first,last,email,city,amount,active\n');
  for (let i = 0; i < ROWS; i++) {
    const line = `${i},First${i},Last${i},User${i}@Example.org,City ${i % 100},${(i * 1.5).toFixed(2)},${i % 3 ? 'Y' : 'N'}\n`;
    if (!out.write(line)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
}
const csvBytes = (await fs.stat(csvFile)).size;

async function baseline() {
  const t0 = process.hrtime.bigint();
  let rows = 0;
  await pipeline(
    createReadStream(csvFile),
    parse({ columns: true }),
    new Transform({
      objectMode: true,
      transform(r, _enc, cb) {
        rows++;
        cb(
          null,
          `${JSON.stringify({ id: Number(r.id), name: `${r.first} ${r.last}`, email: r.email.toLowerCase(), city: r.city, amount: Number(r.amount) })}\n`,
        );
      },
    }),
    createWriteStream(path.join(dir, 'out', 'baseline.jsonl')),
  );
  return { rows, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

async function engine() {
  const specDir = path.join(dir, 'spec');
  const outDir = path.join(dir, 'out');
  await fs.writeFile(
    path.join(specDir, 'bench.process'),
    [
      'steps:',
      '  - name: load',
      '    type: transform',
      '    source: { connector: csv, path: rows.csv }',
      '    map:',
      '      id: $number(id)',
      '      name: first & " " & last',
      '      email: $lowercase(email)',
      '      city: city',
      '      amount: $number(amount)',
      '    target: { connector: jsonl, path: "$(LOCAL_JOB_OUT_DIR)/engine.jsonl" }',
    ].join('\n'),
  );
  const spec = {
    version: 1,
    jobId: 'bench',
    jobConfigId: 'bench',
    entryPoint: path.join(specDir, 'bench.process'),
    specDir,
    outDir,
    workDir: path.join(dir, 'tmp'),
    logLevel: 'INFO',
    macros: { LOCAL_JOB_OUT_DIR: outDir },
  };
  const specFile = path.join(dir, 'spec.json');
  await fs.writeFile(specFile, JSON.stringify(spec));
  const rssFile = path.join(dir, 'rss.txt');
  const preload = path.join(dir, 'peak-rss.cjs');
  await fs.writeFile(
    preload,
    `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));`,
  );
  const t0 = process.hrtime.bigint();
  const extraArgs = (process.env.BENCH_EXECUTOR_ARGS ?? '').split(' ').filter(Boolean); // e.g. --cpu-prof
  const child = spawn(process.execPath, [...extraArgs, '-r', preload, EXECUTOR], {
    cwd: specDir,
    env: { PATH: process.env.PATH ?? '', IM_EXECUTOR_SPEC: specFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  const code = await new Promise((r) => child.on('close', r));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (code !== 0) throw new Error(`the executor exited ${code}:\n${output.slice(-3000)}`);
  const m = /read (\d+) row\(s\), wrote (\d+), rejected \d+ in (\d+) ms/.exec(output);
  if (!m || Number(m[2]) !== ROWS)
    throw new Error(`the engine did not write ${ROWS} rows:\n${output.slice(-3000)}`);
  // The step's own duration (as the job log reports it) is the like-for-like figure: the baseline's
  // pipeline does not start a process or load modules either. The whole process is reported too.
  const stepSeconds = Number(m[3]) / 1000;
  return {
    rows: Number(m[2]),
    seconds,
    stepSeconds,
    peakRssMb: Number(await fs.readFile(rssFile, 'utf8')) / 1024,
  };
}

try {
  const b = await baseline();
  const e = await engine();
  const bRate = b.rows / b.seconds;
  const eRate = e.rows / e.stepSeconds;
  const eProcessRate = e.rows / e.seconds;
  const fmt = (n) => Math.round(n).toLocaleString('en-US');
  process.stdout.write(
    [
      `input: ${ROWS.toLocaleString('en-US')} rows, ${(csvBytes / 1024 / 1024).toFixed(1)} MiB CSV; node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'})`,
      `baseline (csv-parse → JS map → JSON.stringify → file): ${fmt(bRate)} rows/s (${b.seconds.toFixed(2)} s)`,
      `engine   (transform step: csv → JSONata map → jsonl):  ${fmt(eRate)} rows/s (step ${e.stepSeconds.toFixed(2)} s)`,
      `engine, whole executor process (start, load, run):     ${fmt(eProcessRate)} rows/s (${e.seconds.toFixed(2)} s)`,
      `ratio engine/baseline: ${(eRate / bRate).toFixed(2)} (target ≥ 0.5); whole process: ${(eProcessRate / bRate).toFixed(2)}`,
      `engine peak RSS: ${e.peakRssMb.toFixed(1)} MB (target < 200 MB)`,
    ].join('\n') + '\n',
  );
} finally {
  await fs.rm(dir, { recursive: true, force: true });
}
