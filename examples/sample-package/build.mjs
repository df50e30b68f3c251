#!/usr/bin/env node
// Builds the sample integration package: zips src/ into build/samplePackage.djar.
//   node examples/sample-package/build.mjs [output path]
import { createWriteStream, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yazl from 'yazl';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const out = resolve(process.argv[2] ?? join(here, 'build', 'samplePackage.djar'));
mkdirSync(dirname(out), { recursive: true });

const zip = new yazl.ZipFile();
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else zip.addFile(p, relative(src, p).split('\\').join('/'), { mtime: new Date('2026-01-01T00:00:00Z') });
  }
};
walk(src);
zip.end();
zip.outputStream.pipe(createWriteStream(out)).on('close', () => {
  process.stdout.write(`built ${out} (${statSync(out).size} bytes)\n`);
});
