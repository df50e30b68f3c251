import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MeteringStream } from './metering';
import {
  assertValidKey,
  type ByteRange,
  type ObjectInfo,
  type ObjectStorage,
  type PutOptions,
  type PutResult,
} from './object-storage';

const TMP_DIR = '.tmp';
const META_SUFFIX = '.meta.json';

/**
 * Object storage in a local directory, for standalone mode and tests. Writes go to a temp file and
 * are renamed into place, so a reader never sees half an object. The content type sits in a small
 * sidecar file.
 */
export class LocalObjectStorage implements ObjectStorage {
  readonly kind = 'local' as const;

  private constructor(private readonly root: string) {}

  static async open(root: string): Promise<LocalObjectStorage> {
    await fs.mkdir(path.join(root, TMP_DIR), { recursive: true, mode: 0o700 });
    return new LocalObjectStorage(path.resolve(root));
  }

  private file(key: string): string {
    assertValidKey(key);
    if (key.endsWith(META_SUFFIX) || key.split('/')[0] === TMP_DIR)
      throw new Error(`Reserved object key: ${key}`);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const target = this.file(key);
    const tmp = path.join(this.root, TMP_DIR, randomUUID());
    const meter = new MeteringStream(options.maxBytes);
    try {
      await pipeline(body, meter, createWriteStream(tmp, { mode: 0o600 }));
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.writeFile(
        target + META_SUFFIX,
        JSON.stringify({ contentType: options.contentType ?? 'application/octet-stream' }),
      );
      await fs.rename(tmp, target);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    const sha256 = meter.digest();
    return { size: meter.bytes, sha256, etag: sha256 };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const file = this.file(key);
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) return null;
      return {
        key,
        size: st.size,
        lastModified: st.mtime,
        etag: `${st.size.toString(16)}-${st.mtimeMs.toString(16)}`,
        contentType: await this.contentType(file),
      };
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code === 'ENOENT' ||
        (err as NodeJS.ErrnoException).code === 'ENOTDIR'
      )
        return null;
      throw err;
    }
  }

  private async contentType(file: string): Promise<string> {
    try {
      const meta = JSON.parse(await fs.readFile(file + META_SUFFIX, 'utf8')) as { contentType?: string };
      return meta.contentType ?? 'application/octet-stream';
    } catch {
      return 'application/octet-stream';
    }
  }

  async get(key: string, range?: ByteRange): Promise<{ info: ObjectInfo; body: Readable } | null> {
    const info = await this.head(key);
    if (!info) return null;
    const body = createReadStream(
      this.file(key),
      range ? { start: range.start, ...(range.end !== undefined ? { end: range.end } : {}) } : {},
    );
    return { info, body };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const keys: string[] = [];
    const walk = async (dir: string, rel: string) => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const k = rel ? `${rel}/${e.name}` : e.name;
        if (!rel && e.name === TMP_DIR) continue;
        if (e.isDirectory()) await walk(path.join(dir, e.name), k);
        else if (e.isFile() && !e.name.endsWith(META_SUFFIX) && k.startsWith(prefix)) keys.push(k);
      }
    };
    // Walk only the deepest directory that the prefix names fully.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    await walk(dirPart ? path.join(this.root, ...dirPart.split('/')) : this.root, dirPart);
    keys.sort();
    for (const k of keys) {
      const info = await this.head(k);
      if (info) yield info;
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    await fs.rm(file, { force: true });
    await fs.rm(file + META_SUFFIX, { force: true });
  }

  async deletePrefix(prefix: string): Promise<number> {
    let n = 0;
    for await (const o of this.list(prefix)) {
      await this.delete(o.key);
      n++;
    }
    return n;
  }

  async ping(): Promise<void> {
    await fs.access(this.root);
  }

  async close(): Promise<void> {}
}
