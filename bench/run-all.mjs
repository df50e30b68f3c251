#!/usr/bin/env node
// `npm run bench`: every benchmark of bench/, one after the other (they would disturb each other's
// figures if run together), each in its own process; their printouts follow one another, and a last
// table says which ran through. Needs a build (`npm run build`) and, for all but the engine, the
// infrastructure (`npm run infra:up`, then `. .infra/env`).
//   npm run bench                 full runs (about 25 minutes on 2 cores)
//   npm run bench -- --quick      the small smoke version of each (about 3 minutes)
//   npm run bench -- dispatch api only those
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useNode24 } from '../scripts/runtime.mjs';

// The figures are Node 24's: fetched once if this machine's Node is another version.
await useNode24();

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ALL = ['engine', 'dispatch', 'chain', 'throughput', 'api', 'large', 'isolation'];
const args = process.argv.slice(2);
const quick = args.includes('--quick');
// --json FILE: also write the results there (npm test counts the smoke run's benchmarks so).
const jsonAt = args.indexOf('--json');
const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
const chosen = args.filter((a, i) => !a.startsWith('--') && (jsonAt < 0 || i !== jsonAt + 1));
const unknown = chosen.filter((n) => !ALL.includes(n));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${ALL.join(', ')}\n`);
  process.exit(2);
}
const needsInfra = (chosen.length ? chosen : ALL).some((n) => n !== 'engine' && n !== 'isolation');
if (needsInfra && !process.env.KAFKA_BROKERS) {
  process.stderr.write(
    'the platform benchmarks need PostgreSQL, Kafka and the S3 server: run `npm run infra:up`, then `set -a; . .infra/env; set +a`\n',
  );
  process.exit(2);
}

const results = [];
for (const name of chosen.length ? chosen : ALL) {
  // The engine benchmark takes a row count instead of --quick.
  const extra = quick ? (name === 'engine' ? ['100000'] : ['--quick']) : [];
  const t0 = Date.now();
  process.stdout.write(`\n### bench/${name} ${extra.join(' ')}\n`);
  const r = spawnSync(process.execPath, [path.join(root, 'bench', name, 'run.mjs'), ...extra], {
    cwd: root,
    stdio: 'inherit',
  });
  results.push({ name, code: r.status ?? r.signal, seconds: Math.round((Date.now() - t0) / 100) / 10 });
}

process.stdout.write('\n=== bench summary ===\n');
for (const r of results)
  process.stdout.write(
    `${r.name.padEnd(12)} ${r.code === 0 ? 'ok' : `FAILED (${r.code})`}  ${r.seconds} s\n`,
  );
if (jsonFile) writeFileSync(jsonFile, JSON.stringify(results, null, 2));
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
