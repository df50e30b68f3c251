import { Transform, type TransformCallback } from 'node:stream';

/**
 * The one set of rules for what a package (a `.djar` zip) may contain, applied where its entry
 * points are listed (file-storage, from the central directory) and where it is unpacked (job-runner,
 * which also counts the bytes it inflates). See docs/security.md, "Uploads and packages".
 */
export interface PackageLimits {
  /** Sum of the entries' uncompressed sizes, declared and actual. */
  maxBytes: number;
  maxEntries: number;
  /** Largest uncompressed/compressed ratio of an entry, and of the whole package (zip bombs). */
  maxRatio?: number;
}

/** Entries (and packages) smaller than this are not ratio-checked: tiny files compress very well. */
export const RATIO_CHECK_MIN_BYTES = 1024 * 1024;
export const MAX_COMPRESSION_RATIO = 100;

export const DEFAULT_PACKAGE_LIMITS: Required<PackageLimits> = {
  maxBytes: 1024 ** 3,
  maxEntries: 10_000,
  maxRatio: MAX_COMPRESSION_RATIO,
};

/** What a package rule refused; `kind` tells an unsafe entry from a package over a limit. */
export class UnsafePackageError extends Error {
  override name = 'UnsafePackageError';
  constructor(
    message: string,
    readonly kind: 'unsafe-entry' | 'too-large' | 'zip-bomb',
  ) {
    super(message);
  }
}

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

/** What a rule needs of an entry: its name, declared sizes and Unix mode (external attributes). */
export interface ZipEntryFacts {
  name: string;
  uncompressedSize: number;
  compressedSize: number;
  /** The upper 16 bits of the external file attributes (0 when the archiver set none). */
  unixMode: number;
}

export type EntryKind = 'file' | 'directory';

/** Checks one entry's name, type and ratio; throws UnsafePackageError, else says what it is. */
export function checkEntry(e: ZipEntryFacts, limits: PackageLimits = DEFAULT_PACKAGE_LIMITS): EntryKind {
  const type = e.unixMode & S_IFMT;
  if (type === S_IFLNK)
    throw new UnsafePackageError(`unsafe entry '${e.name}' in the package: symbolic link`, 'unsafe-entry');
  if (type !== 0 && type !== S_IFREG && type !== S_IFDIR)
    throw new UnsafePackageError(`unsafe entry '${e.name}' in the package: special file`, 'unsafe-entry');
  const isDir = e.name.endsWith('/') || type === S_IFDIR;
  const path = e.name.endsWith('/') ? e.name.slice(0, -1) || '.' : e.name;
  const reason = unsafePathReason(path);
  if (reason)
    throw new UnsafePackageError(`unsafe entry '${e.name}' in the package: ${reason}`, 'unsafe-entry');
  if (isDir) return 'directory';
  const maxRatio = limits.maxRatio ?? MAX_COMPRESSION_RATIO;
  if (
    e.uncompressedSize > RATIO_CHECK_MIN_BYTES &&
    e.uncompressedSize > maxRatio * Math.max(e.compressedSize, 1)
  ) {
    throw new UnsafePackageError(
      `entry '${e.name}' of the package expands ${Math.round(e.uncompressedSize / Math.max(e.compressedSize, 1))} times (more than ${maxRatio}): it looks like a zip bomb`,
      'zip-bomb',
    );
  }
  if (e.uncompressedSize > limits.maxBytes)
    throw new UnsafePackageError(
      `entry '${e.name}' of the package declares ${e.uncompressedSize} bytes, more than the limit of ${limits.maxBytes} bytes`,
      'too-large',
    );
  return 'file';
}

export function checkEntryCount(count: number, limits: PackageLimits = DEFAULT_PACKAGE_LIMITS): void {
  if (count > limits.maxEntries)
    throw new UnsafePackageError(
      `the package has ${count} entries, more than the limit of ${limits.maxEntries}`,
      'too-large',
    );
}

/** Running totals over the entries of one package: declared size and the overall ratio. */
export class PackageTally {
  uncompressed = 0;
  compressed = 0;
  entries = 0;
  constructor(private readonly limits: PackageLimits = DEFAULT_PACKAGE_LIMITS) {}

  /** Checks the entry and adds it to the totals; throws when the package as a whole breaks a rule. */
  add(e: ZipEntryFacts): EntryKind {
    this.entries++;
    checkEntryCount(this.entries, this.limits);
    const kind = checkEntry(e, this.limits);
    if (kind === 'directory') return kind;
    this.uncompressed += e.uncompressedSize;
    this.compressed += e.compressedSize;
    if (this.uncompressed > this.limits.maxBytes)
      throw new UnsafePackageError(
        `the package unpacks to more than the limit of ${this.limits.maxBytes} bytes`,
        'too-large',
      );
    const maxRatio = this.limits.maxRatio ?? MAX_COMPRESSION_RATIO;
    if (
      this.uncompressed > RATIO_CHECK_MIN_BYTES &&
      this.uncompressed > maxRatio * Math.max(this.compressed, 1)
    )
      throw new UnsafePackageError(
        `the package expands ${Math.round(this.uncompressed / Math.max(this.compressed, 1))} times in all (more than ${maxRatio}): it looks like a zip bomb`,
        'zip-bomb',
      );
    return kind;
  }
}

/** The Unix mode bits of a yauzl entry (or 0). */
export function unixModeOf(externalFileAttributes: number): number {
  return (externalFileAttributes >>> 16) & 0xffff;
}

/**
 * Passes bytes through, counting them, and fails as soon as more than `max` went by: the bytes an
 * entry really inflates to are never trusted to match what its header declares.
 */
export class ByteLimit extends Transform {
  bytes = 0;
  constructor(
    private readonly max: number,
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max)
      cb(new UnsafePackageError(`${this.what} inflates to more than ${this.max} bytes`, 'too-large'));
    else cb(null, chunk);
  }
}

/** Zip local file header, and the end-of-central-directory record an empty archive starts with. */
const ZIP_MAGICS = [Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.from([0x50, 0x4b, 0x05, 0x06])];

/** Whether a file's first bytes (at least 4, or the whole file) look like a zip archive. */
export function looksLikeZip(head: Buffer): boolean {
  return head.length >= 4 && ZIP_MAGICS.some((m) => head.subarray(0, 4).equals(m));
}

/** A `.djar` upload whose first bytes are not a zip archive's. */
export class NotAZipError extends Error {
  override name = 'NotAZipError';
}

/**
 * Passes a stream through once its first four bytes are a zip signature; otherwise fails it with
 * NotAZipError before anything past those bytes went by (so a storage upload aborts and stores nothing).
 */
export class ZipSignatureCheck extends Transform {
  private head: Buffer | undefined = Buffer.alloc(0);
  constructor(private readonly name: string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.head) return cb(null, chunk);
    this.head = Buffer.concat([this.head, chunk]);
    if (this.head.length < 4) return cb();
    const all = this.head;
    this.head = undefined;
    if (!looksLikeZip(all)) return cb(this.refusal());
    cb(null, all);
  }
  override _flush(cb: TransformCallback): void {
    // Shorter than a signature (an empty file included): not a zip.
    if (this.head) return cb(this.refusal());
    cb();
  }
  private refusal(): NotAZipError {
    return new NotAZipError(
      `"${this.name}" is not a zip archive (a .djar package must start with the zip signature PK\\x03\\x04); nothing was stored`,
    );
  }
}
