import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { PackageUnusableError } from './package-unusable.error';

export interface UnpackLimits {
  /** Sum of the entries' uncompressed sizes. */
  maxBytes: number;
  maxEntries: number;
}

/** Entries above this size must not expand more than MAX_COMPRESSION_RATIO times. */
export const RATIO_CHECK_MIN_BYTES = 1024 * 1024;
export const MAX_COMPRESSION_RATIO = 200;

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = { maxBytes: 1024 ** 3, maxEntries: 10_000 };

export interface UnpackResult {
  files: number;
  directories: number;
  bytes: number;
}

const REBUILD =
  'rebuild the package as a plain zip of regular files with relative paths (no links, no "..", no absolute paths)';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/**
 * Why a path inside a package (a zip entry, a configuration file, an entry point) is unsafe, or null
 * when it is a plain relative path.
 */
export function unsafePathReason(name: string): string | null {
  if (name === '') return 'empty name';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(name)) return 'control character in name';
  if (name.includes('\\')) return 'backslash in name';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'absolute path';
  if (name.split('/').includes('..')) return "'..' segment";
  return null;
}

/** The absolute target of `name` under `dir`, or an error when it would land elsewhere. */
export function targetInside(dir: string, name: string): string {
  const reason = unsafePathReason(name);
  if (reason) throw new PackageUnusableError(`unsafe entry '${name}' in the package: ${reason}`, REBUILD);
  const target = path.resolve(dir, ...name.split('/').filter((s) => s !== '' && s !== '.'));
  if (target !== dir && !target.startsWith(dir + path.sep)) {
    throw new PackageUnusableError(
      `unsafe entry '${name}' in the package: it resolves outside the package`,
      REBUILD,
    );
  }
  return target;
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(
      file,
      {
        lazyEntries: true,
        autoClose: false,
        validateEntrySizes: true,
        strictFileNames: true,
        decodeStrings: true,
      },
      (err, zip) => {
        if (err) reject(unreadable(err));
        else resolve(zip);
      },
    );
  });
}

function unreadable(err: Error): PackageUnusableError {
  // yauzl names unsafe file names itself ("invalid relative path: ../x", "absolute path: /x").
  if (/invalid relative path|absolute path|invalid characters in fileName/i.test(err.message)) {
    return new PackageUnusableError(`unsafe entry in the package: ${err.message}`, REBUILD);
  }
  return new PackageUnusableError(
    `the package is not a readable zip archive: ${err.message}`,
    'upload a valid .djar (zip) archive',
  );
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (e: yauzl.Entry) => {
      cleanup();
      resolve(e);
    };
    const onEnd = () => {
      cleanup();
      resolve(null);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(unreadable(err));
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err) reject(unreadable(err));
      else resolve(stream);
    });
  });
}

/**
 * Unpacks a zip file into `destDir` (which must exist and be empty), refusing anything unsafe before
 * it is written: absolute paths, `..` segments, backslashes, links and other special files, targets
 * outside `destDir`, duplicates, more than `maxEntries` entries or more than `maxBytes` in total
 * (sizes are the declared ones, which yauzl checks against the actual bytes).
 */
export async function unpackPackage(
  zipFile: string,
  destDir: string,
  limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
  signal?: AbortSignal,
): Promise<UnpackResult> {
  const dest = path.resolve(destDir);
  const zip = await openZip(zipFile);
  const result: UnpackResult = { files: 0, directories: 0, bytes: 0 };
  try {
    if (zip.entryCount > limits.maxEntries) {
      throw new PackageUnusableError(
        `the package has ${zip.entryCount} entries, more than the limit of ${limits.maxEntries}`,
        'split the package or ask an operator to raise RUNNER_MAX_ENTRIES',
      );
    }
    for (;;) {
      signal?.throwIfAborted();
      const entry = await nextEntry(zip);
      if (!entry) break;
      const name = entry.fileName;
      const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
      const isDir = name.endsWith('/');
      if (type === S_IFLNK)
        throw new PackageUnusableError(`unsafe entry '${name}' in the package: symbolic link`, REBUILD);
      if (type !== 0 && type !== S_IFREG && type !== S_IFDIR)
        throw new PackageUnusableError(`unsafe entry '${name}' in the package: special file`, REBUILD);
      const target = targetInside(dest, isDir ? name.slice(0, -1) || '.' : name);
      if (isDir || type === S_IFDIR) {
        await fs.mkdir(target, { recursive: true, mode: 0o700 });
        result.directories++;
        continue;
      }
      if (entry.isEncrypted())
        throw new PackageUnusableError(
          `entry '${name}' of the package is encrypted`,
          'upload a package without encryption',
        );
      // A zip bomb's tell: a large entry that compresses far better than real data does.
      if (
        entry.uncompressedSize > RATIO_CHECK_MIN_BYTES &&
        entry.uncompressedSize > MAX_COMPRESSION_RATIO * Math.max(entry.compressedSize, 1)
      ) {
        throw new PackageUnusableError(
          `entry '${name}' of the package expands ${Math.round(entry.uncompressedSize / Math.max(entry.compressedSize, 1))} times (more than ${MAX_COMPRESSION_RATIO}): it looks like a zip bomb`,
          REBUILD,
        );
      }
      result.bytes += entry.uncompressedSize;
      if (result.bytes > limits.maxBytes) {
        throw new PackageUnusableError(
          `the package unpacks to more than the limit of ${limits.maxBytes} bytes`,
          'make the package smaller or ask an operator to raise RUNNER_MAX_UNPACKED_BYTES',
        );
      }
      await fs
        .mkdir(path.dirname(target), { recursive: true, mode: 0o700 })
        .catch((err: NodeJS.ErrnoException) => {
          throw new PackageUnusableError(
            `entry '${name}' of the package conflicts with another entry (${err.code ?? err.message})`,
            REBUILD,
          );
        });
      const body = await openEntry(zip, entry);
      try {
        await pipeline(body, createWriteStream(target, { flags: 'wx', mode: 0o600 }), { signal });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EEXIST' || e.code === 'EISDIR' || e.code === 'ENOTDIR') {
          throw new PackageUnusableError(
            `entry '${name}' of the package appears twice or conflicts with another entry`,
            REBUILD,
          );
        }
        if (e.name === 'AbortError' || e instanceof PackageUnusableError) throw err;
        throw unreadable(e);
      }
      result.files++;
    }
    return result;
  } finally {
    zip.close();
  }
}
