#!/usr/bin/env node
// Zips an example's src/ folder into an integration package (.djar).
//   node examples/build-package.mjs <example folder> [output path]
// Default output: <example folder>/build/<folder name>.djar
import { createWriteStream, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import yazl from 'yazl';

const dir = resolve(process.argv[2] ?? '.');
const src = join(dir, 'src');
const out = resolve(process.argv[3] ?? join(dir, 'build', `${basename(dir)}.djar`));
mkdirSync(dirname(out), { recursive: true });

const zip = new yazl.ZipFile();
const walk = (d) => {
  for (const name of readdirSync(d).sort()) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) walk(p);
    else zip.addFile(p, relative(src, p).split('\\').join('/'), { mtime: new Date('2026-01-01T00:00:00Z') });
  }
};
walk(src);
zip.end();
zip.outputStream.pipe(createWriteStream(out)).on('close', () => {
  process.stdout.write(`built ${out} (${statSync(out).size} bytes)\n`);
});
