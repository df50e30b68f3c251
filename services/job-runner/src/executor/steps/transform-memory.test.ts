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
/**
 * The executor's old space is capped at 64 MB: holding 300k parsed rows alone takes ~100 MB of heap,
 * so a transform that collected its rows would die of heap exhaustion. Streaming, its live heap stays
 * ~20 MB and its peak RSS ~120 MB (most of it the modules it loads).
 */
const HEAP_CAP_MB = 64;
const RSS_BOUND_KB = 160 * 1024;

jest.setTimeout(60_000);

let dir: string;
beforeAll(async () => {
  if (!existsSync(EXECUTOR))
    throw new Error(`${EXECUTOR} is missing: run "npx tsc -b services/job-runner" first`);
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-mem-'));
  for (const d of ['spec', 'out', 'tmp']) await fs.mkdir(path.join(dir, d));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function writeCsv(file: string): Promise<void> {
  const out = createWriteStream(file);
  out.write('id,first,last,email,city,amount,active\n');
  for (let i = 0; i < ROWS; i++) {
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

describe('transform memory', () => {
  it(`streams ${ROWS} CSV rows to JSON Lines in constant memory`, async () => {
    const specDir = path.join(dir, 'spec');
    const outDir = path.join(dir, 'out');
    await writeCsv(path.join(specDir, 'big.csv'));
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
      workDir: path.join(dir, 'tmp'),
      logLevel: 'INFO',
      macros: { LOCAL_JOB_OUT_DIR: outDir },
    };
    const specFile = path.join(dir, 'spec.json');
    await fs.writeFile(specFile, JSON.stringify(spec));
    // The peak resident set size, written by the child itself as it exits.
    const rssFile = path.join(dir, 'rss.txt');
    const preload = path.join(dir, 'peak-rss.js');
    await fs.writeFile(
      preload,
      `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));`,
    );

    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_CAP_MB}`, '-r', preload, EXECUTOR], {
      cwd: specDir,
      env: { PATH: process.env.PATH ?? '', [EXECUTOR_SPEC_ENV]: specFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect({ code, output: output.slice(-2000) }).toMatchObject({ code: 0 });
    expect(output).toMatch(new RegExp(`read ${ROWS} row\\(s\\), wrote ${ROWS}, rejected 0 in \\d+ ms`));
    expect(await countLines(path.join(outDir, 'big.jsonl'))).toBe(ROWS);
    const peakKb = Number(await fs.readFile(rssFile, 'utf8'));
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb).toBeLessThan(RSS_BOUND_KB);
  });
});
