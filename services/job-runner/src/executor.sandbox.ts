import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/**
 * The sandbox of the executor: Node's permission model. With it, the executor (and so every package
 * script) may read only its job's directory and the executor's own code, write only the job's
 * `spec/`, `out/` and `tmp/`, and may not start processes or worker threads, or load native addons.
 * Node's permission model does not restrict the network or signals: the OS boundary around the
 * executor (sandbox/os-sandbox.ts) does.
 *
 * What "the executor's own code" is, is found once per runner: a throwaway Node process loads the
 * executor module (without running it, `require.main` differs) and the code it loads on demand
 * (`processMachinery`), and lists every file it loaded; each
 * file's package under `node_modules`, or the top directory of a first-party package (`dist/`), is
 * readable, and so is every `node_modules` link through which one of them is reached. Two checks keep
 * that safe, because the permission model follows links: no link inside a readable directory may
 * lead outside the readable ones (`link/../..` would escape), and the work dir must lie outside them.
 */

/** Paths the executor's code needs, found by {@link findExecutorCode}. */
export interface ExecutorCode {
  /** Files and directories the executor reads its code from (real paths and node_modules links). */
  readPaths: string[];
  /** Real paths a job can reach through readPaths (a granted link reaches its whole target). */
  reachable: string[];
}

/**
 * Loads the executor without running it and prints the files it loaded, and the paths the module
 * loader resolved through links (it resolves every module path with fs.realpathSync).
 */
const PROBE = `
const fs = require('fs');
const real = fs.realpathSync;
const linked = new Set();
let calls = 0;
fs.realpathSync = function (p, o) {
  calls++;
  const r = real.call(this, p, o);
  if (typeof p === 'string' && r !== p) linked.add(p);
  return r;
};
fs.realpathSync.native = real.native;
const executor = require(process.argv[1]);
// Code the executor loads on demand (child.ts processMachinery) is its code too.
if (typeof executor.processMachinery === 'function') executor.processMachinery();
fs.realpathSync = real;
process.stdout.write(JSON.stringify({ files: Object.keys(require.cache), linked: [...linked], calls }));
`;

/** What the probe saw. */
export interface ExecutorModules {
  /** Every file the executor loaded (real paths). */
  files: string[];
  /** Paths the loader resolved through a link (e.g. node_modules/@im/contracts/dist/index.js). */
  linked: string[];
  /** How often the loader resolved a path; 0 means this Node resolves differently (see findExecutorCode). */
  calls: number;
}

const PROBE_TIMEOUT_MS = 30_000;

/** The files the executor loads: its static module graph, from a throwaway Node process. */
export function probeExecutorModules(executorPath: string): Promise<ExecutorModules> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['-e', PROBE, executorPath],
      {
        cwd: path.dirname(executorPath),
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        timeout: PROBE_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) {
          const detail = stderr.trim().split('\n').slice(-5).join(' | ') || err.message;
          reject(new Error(`loading the executor ${executorPath} to list its modules failed: ${detail}`));
          return;
        }
        try {
          const out = JSON.parse(stdout) as Partial<ExecutorModules>;
          const strings = (v: unknown): v is string[] =>
            Array.isArray(v) && v.every((f) => typeof f === 'string');
          if (!strings(out.files) || !strings(out.linked) || typeof out.calls !== 'number')
            throw new Error('not a module list');
          resolve({ files: out.files, linked: out.linked, calls: out.calls });
        } catch (e) {
          reject(new Error(`the module list of the executor is unreadable: ${(e as Error).message}`));
        }
      },
    );
  });
}

export function isInsideOrSame(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

async function exists(p: string): Promise<boolean> {
  return fs
    .lstat(p)
    .then(() => true)
    .catch(() => false);
}

/**
 * The readable path that covers one loaded file: its package under the last `node_modules`, or, for
 * first-party code, the top entry of its package (`<package>/dist`) plus the package's package.json.
 */
async function grantsFor(file: string): Promise<string[]> {
  const marker = `${path.sep}node_modules${path.sep}`;
  const at = file.lastIndexOf(marker);
  if (at >= 0) {
    const after = file.slice(at + marker.length).split(path.sep);
    const pkg = after[0]?.startsWith('@') ? `${after[0]}${path.sep}${after[1] ?? ''}` : (after[0] ?? '');
    return [path.join(file.slice(0, at + marker.length), pkg)];
  }
  let dir = path.dirname(file);
  for (;;) {
    if (await exists(path.join(dir, 'package.json'))) {
      const first = path.relative(dir, file).split(path.sep)[0] as string;
      return [path.join(dir, first), path.join(dir, 'package.json')];
    }
    const up = path.dirname(dir);
    if (up === dir) return [path.dirname(file)];
    dir = up;
  }
}

/** Every `node_modules` directory on the lookup path of `dir`, nearest first. */
function lookupDirs(dir: string): string[] {
  const out: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    if (path.basename(d) !== 'node_modules') out.push(path.join(d, 'node_modules'));
    if (path.dirname(d) === d) return out;
  }
}

/** The links among the ancestors of `p` (and `p` itself), outermost first. */
async function linksOnPath(p: string): Promise<string[]> {
  const out: string[] = [];
  const parts = path.resolve(p).split(path.sep);
  for (let i = 2; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join(path.sep) || path.sep;
    const st = await fs.lstat(prefix).catch(() => null);
    if (st?.isSymbolicLink()) out.push(prefix);
  }
  return out;
}

/** Links directly in a node_modules directory (and in its @scope directories). */
async function linksIn(nodeModules: string): Promise<string[]> {
  const entries = await fs.readdir(nodeModules, { withFileTypes: true }).catch(() => []);
  const links: string[] = [];
  for (const e of entries) {
    const p = path.join(nodeModules, e.name);
    if (e.isSymbolicLink()) links.push(p);
    else if (e.isDirectory() && e.name.startsWith('@')) {
      for (const s of await fs.readdir(p, { withFileTypes: true }).catch(() => []))
        if (s.isSymbolicLink()) links.push(path.join(p, s.name));
    }
  }
  return links;
}

interface FoundLink {
  link: string;
  target: string;
  /** The link leads to a directory. */
  dir: boolean;
}

/** Links under `root` (not following them), with their real targets. */
async function linksUnder(root: string, found: FoundLink[], limit = 200_000): Promise<void> {
  const st = await fs.lstat(root).catch(() => null);
  if (!st?.isDirectory()) return;
  let seen = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      if (++seen > limit) throw new Error(`more than ${limit} entries under ${root}`);
      const p = path.join(dir, e.name);
      if (e.isSymbolicLink()) {
        const target = await fs.realpath(p).catch(() => null);
        const st = target ? await fs.stat(target).catch(() => null) : null;
        if (target && st) found.push({ link: p, target, dir: st.isDirectory() });
      } else if (e.isDirectory()) await walk(p);
    }
  };
  await walk(root);
}

/**
 * Finds what the executor at `executorPath` reads, checks that no link in it leads elsewhere, and
 * that the executor loads with just that. Throws with what to fix when it is not so.
 */
export async function findExecutorCode(executorPath: string): Promise<ExecutorCode> {
  const probe = await probeExecutorModules(executorPath);
  const files = probe.files.filter((f) => path.isAbsolute(f));
  const grants = new Set<string>();
  for (const f of files) for (const g of await grantsFor(f)) grants.add(g);

  // The module loader resolves links (readlink needs read permission on the link itself): grant the
  // links it went through, e.g. node_modules/@im/contracts of a workspace.
  const links = new Set<string>();
  if (probe.calls > 0) {
    for (const p of probe.linked) for (const l of await linksOnPath(p)) links.add(l);
  } else {
    // A Node whose loader the probe cannot watch: every node_modules link leading to loaded code.
    const lookups = new Set<string>();
    for (const f of files) for (const d of lookupDirs(path.dirname(f))) lookups.add(d);
    for (const nm of lookups) {
      for (const link of await linksIn(nm)) {
        const target = await fs.realpath(link).catch(() => null);
        if (target && files.some((f) => isInsideOrSame(target, f))) links.add(link);
      }
    }
  }
  const linkTargets: string[] = [];
  for (const l of links) {
    grants.add(l);
    linkTargets.push(await fs.realpath(l));
  }

  // Everything a job can reach through the grants (a granted link reaches its whole target).
  const regions = [...new Set([...grants, ...linkTargets])];
  const real = await Promise.all(regions.map((r) => fs.realpath(r).catch(() => r)));
  const reachable = [...new Set(real)];

  // The permission model checks the path as written, the system follows links: through a link to a
  // directory, `dir/link/../../x` is inside a grant as written but lands `..` above the link's target.
  // A link to a file cannot be climbed out of (`file/..` fails), but its target must be readable code.
  const inner: FoundLink[] = [];
  for (const r of reachable) await linksUnder(r, inner);
  const escaping = inner.filter((l) => l.dir || !reachable.some((r) => isInsideOrSame(r, l.target)));
  if (escaping.length > 0) {
    const shown = escaping
      .slice(0, 5)
      .map((l) => `${l.link} -> ${l.target}`)
      .join(', ');
    throw new Error(
      `links inside the executor's code would let a job read elsewhere (a link to a directory, or to a file outside that code): ${shown}; remove them or run without the sandbox (JOBS_SANDBOX=false)`,
    );
  }
  const code = { readPaths: [...grants].sort(), reachable: reachable.sort() };
  await selfTest(executorPath, code);
  return code;
}

/** Jobs must not reach each other: the work dir may neither lie inside the code they read nor hold it. */
export async function checkWorkDir(code: ExecutorCode, workDir: string): Promise<void> {
  const work = [
    ...new Set([path.resolve(workDir), await fs.realpath(workDir).catch(() => path.resolve(workDir))]),
  ];
  for (const r of code.reachable) {
    for (const w of work) {
      if (isInsideOrSame(r, w) || isInsideOrSame(w, r)) {
        throw new Error(
          `the work dir ${w} overlaps ${r}, which holds the executor's code that every job may read; move the work dir (RUNNER_WORK_DIR) elsewhere`,
        );
      }
    }
  }
}

/** Loads the executor under the sandbox once: the grants must suffice on this Node version. */
function selfTest(executorPath: string, code: ExecutorCode): Promise<void> {
  const argv = executorExecArgv({ code, memoryMb: 256, readDirs: [], writeDirs: [] });
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        ...argv,
        '-e',
        "const e = require(process.argv[1]); if (typeof e.processMachinery === 'function') e.processMachinery();",
        executorPath,
      ],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: PROBE_TIMEOUT_MS },
      (err, _stdout, stderr) => {
        if (!err) return resolve();
        const detail = stderr.trim().split('\n').slice(-8).join(' | ') || err.message;
        reject(new Error(`the executor does not load inside the sandbox: ${detail}`));
      },
    );
  });
}

const memo = new Map<string, Promise<ExecutorCode>>();

/** {@link findExecutorCode} (once per executor in this process), then {@link checkWorkDir}. */
export async function executorCode(executorPath: string, workDir: string): Promise<ExecutorCode> {
  let p = memo.get(executorPath);
  if (!p) {
    p = findExecutorCode(executorPath);
    memo.set(executorPath, p);
    p.catch(() => memo.delete(executorPath));
  }
  const code = await p;
  await checkWorkDir(code, workDir);
  return code;
}

export interface ExecutorArgvOptions {
  /** Null: no sandbox, only the memory cap. */
  code: ExecutorCode | null;
  /** Cap of the V8 heap (old space), MiB. */
  memoryMb: number;
  /** Directories the job may read (its own directory). */
  readDirs: readonly string[];
  /** Directories the job may write. */
  writeDirs: readonly string[];
}

/** The permission flag (Node 24: `--permission`). */
export function permissionFlag(): string {
  return '--permission';
}

/** The Node options the executor is started with. */
export function executorExecArgv(o: ExecutorArgvOptions): string[] {
  const argv: string[] = [];
  if (o.code) {
    argv.push(permissionFlag());
    for (const p of [...o.readDirs, ...o.code.readPaths]) argv.push(`--allow-fs-read=${p}`);
    for (const p of o.writeDirs) argv.push(`--allow-fs-write=${p}`);
    // No --allow-child-process, --allow-worker, --allow-wasi, --allow-addons: all denied.
    argv.push('--no-addons');
    // The permission model announces itself on stderr, which would land in every job log.
    if (process.allowedNodeEnvironmentFlags.has('--disable-warning'))
      argv.push('--disable-warning=ExperimentalWarning');
  }
  argv.push(`--max-old-space-size=${o.memoryMb}`);
  return argv;
}

/** Text of an error the permission model raised (the executor logs a thrown error's message). */
export const ACCESS_DENIED =
  /ERR_ACCESS_DENIED|Access to this API has been restricted|requires full fs\.read and fs\.write permissions/;

/** V8's last words when the heap cap is reached. */
export const OUT_OF_MEMORY = /JavaScript heap out of memory|Reached heap limit/;
