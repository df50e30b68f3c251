#!/usr/bin/env node
// Builds the sample integration package: zips src/ into build/samplePackage.djar.
//   node examples/sample-package/build.mjs [output path]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, 'build', 'samplePackage.djar');
const r = spawnSync(process.execPath, [join(here, '..', 'build-package.mjs'), here, out], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
