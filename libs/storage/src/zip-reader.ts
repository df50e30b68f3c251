import { PassThrough, type Readable } from 'node:stream';
import yauzl from 'yauzl';
import type { ObjectStorage } from './object-storage';
import {
  checkEntryCount,
  DEFAULT_PACKAGE_LIMITS,
  PackageTally,
  unixModeOf,
  UnsafePackageError,
  type PackageLimits,
} from './zip-safety';

export class UnreadableZipError extends Error {
  override name = 'UnreadableZipError';
}

/**
 * Opens a zip archive in object storage by random access: only the end-of-central-directory record
 * and the central directory are read (two small range reads), never the whole package.
 */
export async function openZip(storage: ObjectStorage, key: string): Promise<yauzl.ZipFile | null> {
  const info = await storage.head(key);
  if (!info) return null;
  class StorageReader extends yauzl.RandomAccessReader {
    override _readStreamForRange(start: number, end: number): Readable {
      // yauzl's end is exclusive; ours is inclusive. The stream is lazy: yauzl wants it synchronously.
      const out = new PassThrough();
      if (end <= start) {
        out.end();
        return out;
      }
      storage.get(key, { start, end: end - 1 }).then(
        (obj) => {
          if (!obj) out.destroy(new Error(`object ${key} disappeared`));
          else obj.body.on('error', (e) => out.destroy(e)).pipe(out);
        },
        (err: Error) => out.destroy(err),
      );
      return out;
    }
  }
  const reader = new StorageReader();
  return new Promise((resolve, reject) => {
    yauzl.fromRandomAccessReader(
      reader,
      info.size,
      {
        lazyEntries: true,
        autoClose: false,
        validateEntrySizes: true,
        strictFileNames: false,
        decodeStrings: true,
      },
      (err, zip) => {
        if (err || !zip)
          reject(
            new UnreadableZipError(
              `"${key.split('/').pop()}" is not a readable zip archive: ${err?.message ?? 'unknown error'}`,
            ),
          );
        else resolve(zip);
      },
    );
  });
}

export interface ZipEntryInfo {
  name: string;
  size: number;
  compressedSize: number;
  isDirectory: boolean;
  isSymlink: boolean;
  /** The Unix mode bits from the external attributes (0 when none). */
  unixMode: number;
}

/** Lists the entries of a zip by its central directory. */
export async function listZipEntries(
  zip: yauzl.ZipFile,
  maxEntries: number = DEFAULT_PACKAGE_LIMITS.maxEntries,
): Promise<ZipEntryInfo[]> {
  const out: ZipEntryInfo[] = [];
  // The count is in the end-of-central-directory record: refuse before reading a huge directory.
  try {
    checkEntryCount(zip.entryCount, { maxBytes: Infinity, maxEntries });
  } catch (err) {
    zip.close();
    throw err;
  }
  return new Promise((resolve, reject) => {
    zip.on('entry', (e: yauzl.Entry) => {
      const mode = (e.externalFileAttributes >>> 16) & 0o170000;
      out.push({
        name: e.fileName,
        size: e.uncompressedSize,
        compressedSize: e.compressedSize,
        isDirectory: e.fileName.endsWith('/'),
        isSymlink: mode === 0o120000,
        unixMode: unixModeOf(e.externalFileAttributes),
      });
      zip.readEntry();
    });
    zip.on('end', () => {
      zip.close();
      resolve(out);
    });
    zip.on('error', (err: Error) => {
      zip.close();
      // yauzl names unsafe file names itself ("invalid relative path: ../x", "absolute path: /x").
      reject(
        /invalid relative path|absolute path|invalid characters in fileName/i.test(err.message)
          ? new UnsafePackageError(`unsafe entry in the package: ${err.message}`, 'unsafe-entry')
          : new UnreadableZipError(err.message),
      );
    });
    zip.readEntry();
  });
}

/**
 * Applies the package rules (docs/security.md) to a listing: entry count, declared total size, the
 * compression ratio of each entry and of the whole, no links, no names escaping the package. Throws
 * UnsafePackageError. The runner applies the same rules while unpacking, counting the real bytes.
 */
export function checkZipEntries(
  entries: ZipEntryInfo[],
  limits: PackageLimits = DEFAULT_PACKAGE_LIMITS,
): void {
  checkEntryCount(entries.length, limits);
  const tally = new PackageTally(limits);
  for (const e of entries)
    tally.add({
      name: e.name,
      uncompressedSize: e.size,
      compressedSize: e.compressedSize,
      unixMode: e.unixMode,
    });
}

/** Entry points of a package: process definitions and Node scripts, outside node_modules and dot-dirs. */
export function entryPointsOf(entries: ZipEntryInfo[]): string[] {
  return entries
    .filter((e) => !e.isDirectory && !e.isSymlink)
    .map((e) => e.name)
    .filter((n) => /\.(process|js|mjs)$/i.test(n))
    .filter((n) => !n.split('/').some((seg) => seg === 'node_modules' || seg.startsWith('.')))
    .sort();
}
