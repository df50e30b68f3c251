import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ByteLimit,
  checkEntryCount,
  DEFAULT_PACKAGE_LIMITS,
  MAX_COMPRESSION_RATIO,
  PackageTally,
  RATIO_CHECK_MIN_BYTES,
  unixModeOf,
  unsafePathReason,
  UnsafePackageError,
} from '@im/storage';
import yauzl from 'yauzl';
import { PackageUnusableError } from './package-unusable.error';

export interface UnpackLimits {
  /** Sum of the entries' uncompressed sizes (declared, and counted while inflating). */
  maxBytes: number;
  maxEntries: number;
  /** Largest expansion of an entry and of the package (default MAX_COMPRESSION_RATIO). */
  maxRatio?: number;
}

export { MAX_COMPRESSION_RATIO, RATIO_CHECK_MIN_BYTES, unsafePathReason };

/** The same limits file-storage applies when it lists a package's entry points. */
export const DEFAULT_UNPACK_LIMITS: UnpackLimits = { ...DEFAULT_PACKAGE_LIMITS };

export interface UnpackResult {
  files: number;
  directories: number;
  bytes: number;
}

const REBUILD =
  'rebuild the package as a plain zip of regular files with relative paths (no links, no "..", no absolute paths)';

/** A package rule's refusal as the job's failure, with what to do about it. */
function unusable(err: UnsafePackageError): PackageUnusableError {
  switch (err.kind) {
    case 'unsafe-entry':
    case 'zip-bomb':
      return new PackageUnusableError(err.message, REBUILD);
    case 'too-large':
      return new PackageUnusableError(
        err.message,
        'make the package smaller or ask an operator to raise RUNNER_MAX_UNPACKED_BYTES / RUNNER_MAX_ENTRIES',
      );
  }
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
 * outside `destDir`, duplicates, more than `maxEntries` entries, more than `maxBytes` in total or an
 * entry or package expanding more than `maxRatio` times (the package rules of @im/storage, which
 * file-storage applies when listing). Declared sizes are checked first; the inflated bytes are
 * counted too and cut off at the declared size and at the remaining budget, whatever a header says.
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
  const tally = new PackageTally(limits);
  try {
    try {
      checkEntryCount(zip.entryCount, limits);
    } catch (err) {
      throw unusable(err as UnsafePackageError);
    }
    for (;;) {
      signal?.throwIfAborted();
      const entry = await nextEntry(zip);
      if (!entry) break;
      const name = entry.fileName;
      let kind;
      try {
        kind = tally.add({
          name,
          uncompressedSize: entry.uncompressedSize,
          compressedSize: entry.compressedSize,
          unixMode: unixModeOf(entry.externalFileAttributes),
        });
      } catch (err) {
        if (err instanceof UnsafePackageError) throw unusable(err);
        throw err;
      }
      const isDir = kind === 'directory';
      const target = targetInside(dest, name.endsWith('/') ? name.slice(0, -1) || '.' : name);
      if (isDir) {
        await fs.mkdir(target, { recursive: true, mode: 0o700 });
        result.directories++;
        continue;
      }
      if (entry.isEncrypted())
        throw new PackageUnusableError(
          `entry '${name}' of the package is encrypted`,
          'upload a package without encryption',
        );
      await fs
        .mkdir(path.dirname(target), { recursive: true, mode: 0o700 })
        .catch((err: NodeJS.ErrnoException) => {
          throw new PackageUnusableError(
            `entry '${name}' of the package conflicts with another entry (${err.code ?? err.message})`,
            REBUILD,
          );
        });
      const body = await openEntry(zip, entry);
      // Never more than the entry declares, nor than what is left of the package's budget.
      const counter = new ByteLimit(
        Math.min(entry.uncompressedSize, limits.maxBytes - result.bytes),
        `entry '${name}' of the package`,
      );
      try {
        await pipeline(body, counter, createWriteStream(target, { flags: 'wx', mode: 0o600 }), { signal });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EEXIST' || e.code === 'EISDIR' || e.code === 'ENOTDIR') {
          throw new PackageUnusableError(
            `entry '${name}' of the package appears twice or conflicts with another entry`,
            REBUILD,
          );
        }
        // Nothing half-written stays behind (the file is this entry's own: it was created with 'wx').
        await fs.rm(target, { force: true });
        if (err instanceof UnsafePackageError) throw unusable(err);
        if (e.name === 'AbortError' || e instanceof PackageUnusableError) throw err;
        throw unreadable(e);
      }
      result.bytes += counter.bytes;
      result.files++;
    }
    return result;
  } finally {
    zip.close();
  }
}
