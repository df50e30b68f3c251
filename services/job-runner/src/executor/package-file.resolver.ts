import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { StepError } from './step-error';

export function isInside(dir: string, candidate: string): boolean {
  const rel = path.relative(dir, candidate);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function isInsideOrSame(dir: string, candidate: string): boolean {
  return path.resolve(dir) === path.resolve(candidate) || isInside(dir, candidate);
}

/** Why a relative path may not be used, or null: no '..', no backslash, no drive letter. */
function unsafeRelative(file: string): boolean {
  return /^[A-Za-z]:/.test(file) || file.includes('\\') || file.split('/').includes('..');
}

/**
 * The real path of a file of the package, refusing anything outside the package: absolute paths,
 * `..` segments, backslashes, and links that lead out.
 */
export async function resolvePackageFile(specDir: string, file: string): Promise<string> {
  if (path.isAbsolute(file) || unsafeRelative(file)) {
    throw new StepError(
      `'${file}' must be a relative path inside the package (no leading '/', no '..', no '\\').`,
    );
  }
  const abs = path.resolve(specDir, file);
  if (!isInside(specDir, abs)) throw new StepError(`'${file}' is outside the package.`);
  let real: string;
  try {
    real = await fs.realpath(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new StepError(`'${file}' is not in the package.`);
    throw err;
  }
  if (!isInside(await fs.realpath(specDir), real))
    throw new StepError(`'${file}' leads outside the package.`);
  if (!(await fs.stat(real)).isFile()) throw new StepError(`'${file}' is not a file.`);
  return real;
}

/** The job's directories a step may use, from the executor spec. */
export interface JobDirs {
  /** The unpacked package ($(LOCAL_JOB_SPEC_DIR)). */
  specDir: string;
  /** The job's output files ($(LOCAL_JOB_OUT_DIR)). */
  outDir: string;
  /** The attempt's scratch directory ($(LOCAL_JOB_WORK_DIR)), when the runner gave one. */
  workDir?: string | undefined;
}

function writableRoots(dirs: JobDirs): string[] {
  return dirs.workDir ? [dirs.outDir, dirs.workDir] : [dirs.outDir];
}

function rootsText(dirs: JobDirs): string {
  return dirs.workDir ? '$(LOCAL_JOB_OUT_DIR) or $(LOCAL_JOB_WORK_DIR)' : '$(LOCAL_JOB_OUT_DIR)';
}

/**
 * A file a step reads (a source's `path`): relative paths are files of the package; absolute paths
 * (`$(LOCAL_JOB_OUT_DIR)/…` after macro substitution) must be inside the out or work dir, e.g. a
 * file an earlier step wrote. Links may not lead out of those directories.
 */
export async function resolveReadFile(dirs: JobDirs, file: string): Promise<string> {
  if (!path.isAbsolute(file)) return resolvePackageFile(dirs.specDir, file);
  const abs = path.resolve(file);
  const root = writableRoots(dirs).find((r) => isInside(r, abs));
  if (!root || file.split('/').includes('..'))
    throw new StepError(`'${file}': an absolute path must be inside ${rootsText(dirs)}.`);
  let real: string;
  try {
    real = await fs.realpath(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StepError(`'${file}' does not exist.`);
    throw err;
  }
  if (!isInside(await fs.realpath(root), real)) throw new StepError(`'${file}' leads outside the job.`);
  if (!(await fs.stat(real)).isFile()) throw new StepError(`'${file}' is not a file.`);
  return real;
}

/**
 * A file a step writes (a target's `path`, `rejects`, `saveTo`): a relative path is relative to the
 * out dir; an absolute one must be inside the out or work dir. Creates the parent directories and
 * refuses a path whose directories or the file itself are links.
 */
export async function resolveWriteFile(dirs: JobDirs, file: string): Promise<string> {
  if (unsafeRelative(file) || file.endsWith('/'))
    throw new StepError(`'${file}' must be a file path without '..' or '\\'.`);
  const abs = path.isAbsolute(file) ? path.resolve(file) : path.resolve(dirs.outDir, file);
  const root = writableRoots(dirs).find((r) => isInside(r, abs));
  if (!root) throw new StepError(`'${file}' must be inside ${rootsText(dirs)}.`);
  const parent = path.dirname(abs);
  await fs.mkdir(parent, { recursive: true, mode: 0o700 });
  const realRoot = await fs.realpath(root);
  const realParent = await fs.realpath(parent);
  if (!isInsideOrSame(realRoot, realParent)) throw new StepError(`'${file}' leads outside the job.`);
  const st = await fs.lstat(abs).catch(() => null);
  if (st && !st.isFile()) throw new StepError(`'${file}' exists and is not a regular file.`);
  return path.join(realParent, path.basename(abs));
}

/** A script's default export when it is a function (ES module, or CommonJS `module.exports = fn`). */
export type PackageFunction = (context: unknown) => unknown;

/** Imports a Node script of the package; returns its default function, if it has one. */
export async function importDefaultFunction(file: string): Promise<PackageFunction | undefined> {
  const mod: unknown = await import(pathToFileURL(file).href);
  let def: unknown =
    mod !== null && typeof mod === 'object' ? (mod as { default?: unknown }).default : undefined;
  // CommonJS compiled from ESM (`exports.default = fn`) arrives as { default: { default: fn } }.
  if (
    def !== null &&
    typeof def === 'object' &&
    typeof (def as { default?: unknown }).default === 'function'
  ) {
    def = (def as { default: unknown }).default;
  }
  return typeof def === 'function' ? (def as PackageFunction) : undefined;
}
