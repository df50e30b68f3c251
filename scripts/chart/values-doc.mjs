#!/usr/bin/env node
// Checks that every key of charts/integration-manager/values.yaml is documented with a
// `## @param <path> <text>` comment (on the key or on a parent), that every @param names a key that
// exists, and renders the reference table into docs/kubernetes.md between the markers
// `<!-- values:begin -->` and `<!-- values:end -->`. `--check` changes nothing and exits 1 when a key
// is undocumented or the table in docs/kubernetes.md is out of date (check.sh runs it so).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import YAML from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const valuesFile = join(root, 'charts', 'integration-manager', 'values.yaml');
const docFile = join(root, 'docs', 'kubernetes.md');
const check = process.argv.includes('--check');

const text = readFileSync(valuesFile, 'utf8');
const values = YAML.parse(text);

/** Leaf paths: scalars, lists and empty maps; non-empty maps are walked. */
function leaves(node, prefix, out) {
  if (node && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length > 0) {
    for (const [k, v] of Object.entries(node)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.push(prefix);
  return out;
}
const get = (path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), values);

const params = [];
let section = '';
for (const line of text.split('\n')) {
  const s = /^\s*## @section (.+)$/.exec(line);
  if (s) section = s[1].trim();
  const p = /^\s*## @param (\S+) (.+)$/.exec(line);
  if (p) params.push({ path: p[1], text: p[2].trim(), section });
}
const documented = new Set(params.map((p) => p.path));
const problems = [];
for (const leaf of leaves(values, '', [])) {
  const parts = leaf.split('.');
  if (!parts.some((_, i) => documented.has(parts.slice(0, i + 1).join('.'))))
    problems.push(`${leaf}: no "## @param ${leaf} <what it does>" comment above it`);
}
for (const p of params) if (get(p.path) === undefined) problems.push(`@param ${p.path}: no such key`);
if (problems.length) {
  process.stderr.write(`charts/integration-manager/values.yaml:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}

const cell = (s) => s.replace(/\|/g, '\\|');
const show = (v) => {
  if (v === '' || v === undefined) return '`""`';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return `\`${cell(s.length > 80 ? `${s.slice(0, 77)}...` : s)}\``;
};
let table = '';
let current = null;
for (const p of params) {
  if (p.section !== current) {
    current = p.section;
    table += `\n#### ${current}\n\n| key | default | what |\n| --- | --- | --- |\n`;
  }
  table += `| \`${p.path}\` | ${show(get(p.path))} | ${cell(p.text)} |\n`;
}

const doc = readFileSync(docFile, 'utf8');
const begin = '<!-- values:begin -->';
const end = '<!-- values:end -->';
const a = doc.indexOf(begin);
const b = doc.indexOf(end);
if (a < 0 || b < a) {
  process.stderr.write(`${docFile} has no ${begin} ... ${end} markers for the values table.\n`);
  process.exit(1);
}
const next = await prettier.format(`${doc.slice(0, a + begin.length)}\n${table}\n${doc.slice(b)}`, {
  ...(await prettier.resolveConfig(docFile)),
  filepath: docFile,
});
if (check) {
  if (next !== doc) {
    process.stderr.write(
      'docs/kubernetes.md: the values table is out of date: run "node scripts/chart/values-doc.mjs" and commit.\n',
    );
    process.exit(1);
  }
  process.stdout.write(`values.yaml: ${params.length} documented keys, docs/kubernetes.md up to date\n`);
} else {
  writeFileSync(docFile, next);
  process.stdout.write(`values.yaml: ${params.length} documented keys; wrote the table into ${docFile}\n`);
}
