import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { StepError } from './step.registry';

export function isInside(dir: string, candidate: string): boolean {
  const rel = path.relative(dir, candidate);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * The real path of a file of the package, refusing anything outside the package: absolute paths,
 * `..` segments, backslashes, and links that lead out.
 */
export async function resolvePackageFile(specDir: string, file: string): Promise<string> {
  if (
    path.isAbsolute(file) ||
    /^[A-Za-z]:/.test(file) ||
    file.includes('\\') ||
    file.split('/').includes('..')
  ) {
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
