import type { Logger } from '@im/logging';
import type { ObjectInfo, ObjectStorage } from '@im/storage';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';

/** What {@link PackageCache.fetch} did. */
export interface PackageFetch {
  /** Bytes of the package. */
  size: number;
  /** True when the package came from the cache (no download). */
  hit: boolean;
  /** The storage ETag of the package that was used. */
  etag: string;
}

interface Entry {
  size: number;
  lastUsed: number;
}

interface Download {
  promise: Promise<ObjectInfo | null>;
  abort: AbortController;
  waiters: number;
}

const FILE_SUFFIX = '.djar';
const TMP_PREFIX = '.tmp-';

/**
 * The cache name of a stored package version: a hash of its storage key, ETag and size. The key is
 * part of it so that two configurations never share an entry (a local-storage ETag is size and mtime,
 * not a content hash); the ETag changes whenever the package is uploaded again.
 */
export function cacheName(info: Pick<ObjectInfo, 'key' | 'etag' | 'size'>): string {
  return createHash('sha256').update(`${info.key}\n${info.etag}\n${info.size}`).digest('hex');
}

/**
 * Raw packages (the zip files) of recent jobs, under `<workDir>/cache/`, so a package that did not
 * change is not downloaded again. Before each download the package's metadata is read (`head`): the
 * same key, ETag and size is a hit, and the job gets a hard link to the cached file (its own name, so
 * an eviction cannot pull it away mid-unpack). A miss downloads into the cache, then links. At most
 * `maxBytes` are kept; the least recently used entries go first. A package larger than the whole cache
 * is downloaded straight into the job's directory. Two jobs missing the same package at once share
 * one download, which stops when every job waiting for it is stopped.
 *
 * Cached files never lie inside a job's directory: the sandboxed executor cannot read or change them.
 */
export class PackageCache {
  private readonly entries = new Map<string, Entry>();
  private readonly downloads = new Map<string, Download>();
  private total = 0;

  constructor(
    readonly dir: string,
    private readonly maxBytes: number,
    private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** Bytes held now. */
  get size(): number {
    return this.total;
  }

  /** Creates the directory and takes over what an earlier run left (oldest first out), dropping partial files. */
  async init(): Promise<void> {
    if (!this.enabled) return;
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const found: { name: string; size: number; mtime: number }[] = [];
    for (const e of await fs.readdir(this.dir, { withFileTypes: true })) {
      const file = path.join(this.dir, e.name);
      if (!e.isFile() || !e.name.endsWith(FILE_SUFFIX) || e.name.startsWith(TMP_PREFIX)) {
        await fs.rm(file, { recursive: true, force: true });
        continue;
      }
      const st = await fs.stat(file);
      found.push({ name: e.name.slice(0, -FILE_SUFFIX.length), size: st.size, mtime: st.mtimeMs });
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) this.remember(f.name, f.size, f.mtime);
    await this.evict(0);
  }

  /**
   * Places the package stored at `key` at `target` (which must not exist): a hard link to the cached
   * copy, or a fresh download. Resolves to null when there is no such object.
   */
  async fetch(
    storage: ObjectStorage,
    key: string,
    target: string,
    signal: AbortSignal,
  ): Promise<PackageFetch | null> {
    if (!this.enabled) return this.download(storage, key, target, signal);
    const head = await storage.head(key);
    if (!head) return null;
    const name = cacheName(head);
    if (await this.linkFromCache(name, target)) return { size: head.size, hit: true, etag: head.etag };
    if (head.size > this.maxBytes) {
      this.logger.debug({ key, size: head.size, maxBytes: this.maxBytes }, 'package larger than the cache');
      return this.download(storage, key, target, signal);
    }
    let info: ObjectInfo | null;
    try {
      info = await this.shared(name, (s) => this.downloadIntoCache(storage, key, s), signal);
    } catch (err) {
      // The shared download was stopped by the jobs that started it, not by this one: do it alone.
      if (signal.aborted || (err as Error).name !== 'AbortError') throw err;
      return this.download(storage, key, target, signal);
    }
    if (!info) return null;
    // The object may have changed between head and get: the entry is named after what was downloaded.
    const got = cacheName(info);
    if (!(await this.linkFromCache(got, target))) {
      // Evicted at once (a tiny cache, many jobs): download for this job alone.
      return this.download(storage, key, target, signal);
    }
    return { size: info.size, hit: false, etag: info.etag };
  }

  private file(name: string): string {
    return path.join(this.dir, `${name}${FILE_SUFFIX}`);
  }

  private async linkFromCache(name: string, target: string): Promise<boolean> {
    const entry = this.entries.get(name);
    if (!entry) return false;
    try {
      await fs.link(this.file(name), target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        this.forget(name); // evicted meanwhile, or removed behind our back
        return false;
      }
      // A file system without hard links: a copy does as well, only slower.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'EMLINK') throw err;
      await fs.copyFile(this.file(name), target, fs.constants.COPYFILE_EXCL);
    }
    entry.lastUsed = Date.now();
    // Map order is the LRU order: most recently used last.
    this.entries.delete(name);
    this.entries.set(name, entry);
    return true;
  }

  /** One download per cache entry at a time; it stops when every waiter is stopped. */
  private async shared(
    name: string,
    start: (signal: AbortSignal) => Promise<ObjectInfo | null>,
    signal: AbortSignal,
  ): Promise<ObjectInfo | null> {
    signal.throwIfAborted();
    let d = this.downloads.get(name);
    if (!d) {
      const abort = new AbortController();
      const created: Download = { abort, waiters: 0, promise: Promise.resolve(null) };
      created.promise = start(abort.signal).finally(() => this.downloads.delete(name));
      this.downloads.set(name, created);
      d = created;
    }
    const dl = d;
    dl.waiters++;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => {
        if (--dl.waiters === 0) dl.abort.abort(signal.reason);
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([dl.promise, aborted]);
    } finally {
      if (onAbort) {
        signal.removeEventListener('abort', onAbort);
        if (!signal.aborted) dl.waiters--;
      }
    }
  }

  private async downloadIntoCache(
    storage: ObjectStorage,
    key: string,
    signal: AbortSignal,
  ): Promise<ObjectInfo | null> {
    const tmp = path.join(this.dir, `${TMP_PREFIX}${randomUUID()}`);
    try {
      const obj = await storage.get(key);
      if (!obj) return null;
      await pipeline(obj.body, createWriteStream(tmp, { mode: 0o600 }), { signal });
      const size = (await fs.stat(tmp)).size;
      const name = cacheName({ key, etag: obj.info.etag, size });
      await this.evict(size);
      await fs.rename(tmp, this.file(name));
      if (this.entries.has(name)) this.forget(name);
      this.remember(name, size, Date.now());
      await this.evict(0); // downloads that ran side by side may together overshoot
      return { ...obj.info, size };
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  private async download(
    storage: ObjectStorage,
    key: string,
    target: string,
    signal: AbortSignal,
  ): Promise<PackageFetch | null> {
    const obj = await storage.get(key);
    if (!obj) return null;
    await pipeline(obj.body, createWriteStream(target, { mode: 0o600 }), { signal });
    return { size: (await fs.stat(target)).size, hit: false, etag: obj.info.etag };
  }

  /** Removes least recently used entries until `incoming` more bytes fit. */
  private async evict(incoming: number): Promise<void> {
    for (const [name] of this.entries) {
      if (this.total + incoming <= this.maxBytes) return;
      this.forget(name);
      await fs.rm(this.file(name), { force: true });
      this.logger.debug({ name }, 'package evicted from the cache');
    }
  }

  private remember(name: string, size: number, lastUsed: number): void {
    this.entries.set(name, { size, lastUsed });
    this.total += size;
  }

  private forget(name: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    this.entries.delete(name);
    this.total -= e.size;
  }
}
