import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { EXECUTOR_SPEC_ENV, type ExecutorSpec } from '../executor.protocol';

/** Tests run the compiled executor: `npx tsc -b services/job-runner` first. */
const EXECUTOR = path.resolve(__dirname, '..', '..', '..', 'dist', 'executor', 'child.js');
const ROWS = 300_000;
/** The same transform on a hundredth of the rows: what the executor needs with next to no data. */
const BASELINE_ROWS = 3_000;
/**
 * The executor's old space is capped at 64 MB: holding 300k parsed rows alone takes ~100 MB of heap,
 * so a transform that collected its rows would die of heap exhaustion. The CSV itself is ~22 MB; a
 * transform that held its text (or its output) would lift the peak resident set by at least that
 * much over the baseline run's, so the growth from 3k to 300k rows must stay under 16 MB (measured:
 * 1-2 MB).
 *
 * The bound is on the growth, not on one run's peak: that ranges from ~75 MB to ~180 MB with the
 * machine and its load (the modules loaded, how late V8 frees garbage), in both runs alike. Both runs
 * get a 1 MB young generation and a full collection every 50 ms, so the peak measures what the
 * transform retains rather than garbage not yet collected.
 */
const HEAP_CAP_MB = 64;
const GROWTH_BOUND_KB = 16 * 1024;

jest.setTimeout(60_000);

let dir: string;
beforeAll(async () => {
  if (!existsSync(EXECUTOR))
    throw new Error(`${EXECUTOR} is missing: run "npx tsc -b services/job-runner" first`);
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-mem-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function writeCsv(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  out.write('id,first,last,email,city,amount,active\n');
  for (let i = 0; i < rows; i++) {
    const line = `${i},First${i},Last${i},user${i}@example.org,City ${i % 100},${(i * 1.5).toFixed(2)},${i % 3 ? 'Y' : 'N'}\n`;
    if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
}

async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const _line of createInterface({ input: createReadStream(file) })) n++;
  return n;
}

/** Runs the compiled executor on a CSV of `rows` rows under the heap cap; answers its peak RSS in KB. */
async function transform(rows: number): Promise<number> {
  const runDir = await fs.mkdtemp(path.join(dir, `run-${rows}-`));
  const specDir = path.join(runDir, 'spec');
  const outDir = path.join(runDir, 'out');
  const workDir = path.join(runDir, 'tmp');
  for (const d of [specDir, outDir, workDir]) await fs.mkdir(d);
  await writeCsv(path.join(specDir, 'big.csv'), rows);
  await fs.writeFile(
    path.join(specDir, 'main.process'),
    [
      'steps:',
      '  - name: load',
      '    type: transform',
      '    source: { connector: csv, path: big.csv }',
      '    map: { id: "$number(id)", email: "email" }',
      '    target: { connector: jsonl, path: "$(LOCAL_JOB_OUT_DIR)/big.jsonl" }',
    ].join('\n'),
  );
  const spec: ExecutorSpec = {
    version: 1,
    jobId: 'mem',
    jobConfigId: 'cfg',
    entryPoint: path.join(specDir, 'main.process'),
    specDir,
    outDir,
    workDir,
    logLevel: 'INFO',
    macros: { LOCAL_JOB_OUT_DIR: outDir },
  };
  const specFile = path.join(runDir, 'spec.json');
  await fs.writeFile(specFile, JSON.stringify(spec));
  // The peak resident set size, written by the child itself as it exits.
  const rssFile = path.join(runDir, 'rss.txt');
  const preload = path.join(runDir, 'peak-rss.js');
  await fs.writeFile(
    preload,
    [
      'setInterval(() => global.gc(), 50).unref();',
      `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));`,
    ].join('\n'),
  );

  const child = spawn(
    process.execPath,
    [
      `--max-old-space-size=${HEAP_CAP_MB}`,
      '--max-semi-space-size=1',
      '--expose-gc',
      '-r',
      preload,
      EXECUTOR,
    ],
    {
      cwd: specDir,
      env: { PATH: process.env.PATH ?? '', [EXECUTOR_SPEC_ENV]: specFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

  expect({ code, output: output.slice(-2000) }).toMatchObject({ code: 0 });
  expect(output).toMatch(new RegExp(`read ${rows} row\\(s\\), wrote ${rows}, rejected 0 in \\d+ ms`));
  expect(await countLines(path.join(outDir, 'big.jsonl'))).toBe(rows);
  const peakKb = Number(await fs.readFile(rssFile, 'utf8'));
  expect(peakKb).toBeGreaterThan(0);
  return peakKb;
}

describe('transform memory', () => {
  it(`streams ${ROWS} CSV rows to JSON Lines in constant memory`, async () => {
    const baselineKb = await transform(BASELINE_ROWS);
    const peakKb = await transform(ROWS);
    process.stdout.write(
      `transform peak RSS: ${BASELINE_ROWS} rows ${baselineKb} KB, ${ROWS} rows ${peakKb} KB\n`,
    );
    expect(peakKb - baselineKb).toBeLessThan(GROWTH_BOUND_KB);
  });
});
