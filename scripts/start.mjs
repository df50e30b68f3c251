#!/usr/bin/env node
// `npm start`: installs and builds what is missing, then runs the platform in one process
// (standalone mode, embedded defaults). Every step says what it does; nothing here needs a network
// beyond the npm registry on the very first run. It runs on Node 24, fetched once if this machine's
// Node is another version (scripts/runtime.mjs).
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSandboxTools } from './sandbox-tools.mjs';
import { useNode24 } from './runtime.mjs';

await useNode24();

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const step = (msg) => process.stdout.write(`[start] ${msg}\n`);
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(
      `[start] "${cmd} ${args.join(' ')}" failed (exit ${r.status}). Fix the error above and run npm start again.\n`,
    );
    process.exit(r.status ?? 1);
  }
};

if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  step('installing dependencies (npm ci; the first time takes a minute or two)...');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

/** Newest mtime of the TypeScript sources (and the console's styles), to rebuild when they changed since the last build. */
function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (/\.(ts|tsx|css)$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}
const entry = join(root, 'services', 'standalone', 'dist', 'main.js');
const stamp = join(root, 'node_modules', '.im-build-stamp');
const stale =
  !existsSync(entry) ||
  !existsSync(join(root, 'services', 'console', 'dist', 'index.html')) ||
  !existsSync(stamp) ||
  Math.max(newestSource(join(root, 'libs')), newestSource(join(root, 'services'))) > statSync(stamp).mtimeMs;
if (stale) {
  step('building (tsc -b)...');
  run('npm', ['run', '--silent', 'build']);
  writeFileSync(stamp, new Date().toISOString());
}

// Every job runs inside bubblewrap (docs/security.md): install it when missing.
ensureSandboxTools((m) => step(m));

step('starting integration-manager in standalone mode...');
const { platformNodeOptions } = createRequire(import.meta.url)('../libs/config/dist/node-options.js');
const child = spawn(process.execPath, [...platformNodeOptions(), entry], {
  cwd: root,
  stdio: 'inherit',
  env: process.env,
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
