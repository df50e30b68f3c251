import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
  etag: string;
  contentType: string;
}

export interface PutOptions {
  contentType?: string;
  /** Refuse bodies larger than this many bytes; nothing is stored then. */
  maxBytes?: number;
}

export interface PutResult {
  size: number;
  sha256: string;
  etag: string;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive; omitted means to the end. */
  end?: number;
}

/**
 * The object-storage port: a small streaming driver. Nothing here buffers a whole object; bodies are
 * streams in both directions. Keys are `/`-separated and never contain `.` or `..` segments.
 */
export interface ObjectStorage {
  readonly kind: 'local' | 's3';
  /** Streams `body` into `key`, replacing any object there. The object appears whole or not at all. */
  put(key: string, body: Readable, options?: PutOptions): Promise<PutResult>;
  head(key: string): Promise<ObjectInfo | null>;
  /** A read stream of the object (or of a byte range of it), or null when there is no such object. */
  get(key: string, range?: ByteRange): Promise<{ info: ObjectInfo; body: Readable } | null>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes the object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  deletePrefix(prefix: string): Promise<number>;
  /** Checks the backend answers (readiness probes). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class PayloadTooLargeError extends Error {
  override name = 'PayloadTooLargeError';
  constructor(readonly limit: number) {
    super(`The body is larger than the limit of ${limit} bytes.`);
  }
}

export function assertValidKey(key: string): void {
  if (
    key.length === 0 ||
    key.startsWith('/') ||
    key.split('/').some((s) => s === '' || s === '.' || s === '..') ||
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\\]/.test(key)
  ) {
    throw new Error(`Invalid object key: ${JSON.stringify(key)}`);
  }
}
