import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  S3Client,
} from '@aws-sdk/client-s3';
import { PassThrough, type Readable } from 'node:stream';
import { MeteringStream } from './metering';
import { uploadStream } from './multipart-upload';
import {
  assertValidKey,
  type ByteRange,
  type ObjectInfo,
  type ObjectStorage,
  type PutOptions,
  type PutResult,
} from './object-storage';

export interface S3StorageOptions {
  endpoint?: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** All keys live under this prefix (e.g. per environment or per test). */
  keyPrefix?: string;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return (
    err instanceof NoSuchKey ||
    err instanceof NotFound ||
    e.name === 'NotFound' ||
    e.name === 'NoSuchKey' ||
    e.$metadata?.httpStatusCode === 404
  );
}

/** Parts of a multipart upload: S3's minimum part size, two on the wire; memory per upload stays 15 MiB. */
const PART_SIZE = 5 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;

/** Object storage on any S3-compatible server (AWS S3, MinIO, s3proxy). Uploads stream as multipart. */
export class S3ObjectStorage implements ObjectStorage {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: S3StorageOptions) {
    this.client = new S3Client({
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      // Keep checksums to what every S3-compatible server understands.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    this.bucket = options.bucket;
    this.prefix = options.keyPrefix ?? '';
  }

  private k(key: string): string {
    assertValidKey(key);
    return this.prefix + key;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const meter = new MeteringStream(options.maxBytes);
    const pass = new PassThrough();
    body.on('error', (err) => meter.destroy(err));
    body.pipe(meter).pipe(pass);
    meter.on('error', (err) => pass.destroy(err));
    try {
      const out = await uploadStream(
        this.client,
        {
          Bucket: this.bucket,
          Key: this.k(key),
          ContentType: options.contentType ?? 'application/octet-stream',
        },
        pass,
        { partSize: PART_SIZE, queueSize: PARTS_IN_FLIGHT },
      );
      const sha256 = meter.digest();
      return { size: meter.bytes, sha256, etag: (out.etag ?? sha256).replaceAll('"', '') };
    } catch (err) {
      if (meter.errored) throw meter.errored;
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return {
        key,
        size: out.ContentLength ?? 0,
        lastModified: out.LastModified ?? new Date(0),
        etag: (out.ETag ?? '').replaceAll('"', ''),
        contentType: out.ContentType ?? 'application/octet-stream',
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async get(key: string, range?: ByteRange): Promise<{ info: ObjectInfo; body: Readable } | null> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.k(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
        }),
      );
      const total = out.ContentRange ? Number(out.ContentRange.split('/')[1]) : (out.ContentLength ?? 0);
      return {
        info: {
          key,
          size: total,
          lastModified: out.LastModified ?? new Date(0),
          etag: (out.ETag ?? '').replaceAll('"', ''),
          contentType: out.ContentType ?? 'application/octet-stream',
        },
        body: out.Body as Readable,
      };
    } catch (err) {
      if (isNotFound(err) || (err as { name?: string }).name === 'InvalidRange') return null;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const out = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          ContinuationToken: token,
        }),
      );
      for (const o of out.Contents ?? []) {
        if (!o.Key) continue;
        yield {
          key: o.Key.slice(this.prefix.length),
          size: o.Size ?? 0,
          lastModified: o.LastModified ?? new Date(0),
          etag: (o.ETag ?? '').replaceAll('"', ''),
          contentType: 'application/octet-stream',
        };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
  }

  async deletePrefix(prefix: string): Promise<number> {
    let batch: string[] = [];
    let n = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      n += batch.length;
      batch = [];
    };
    for await (const o of this.list(prefix)) {
      batch.push(this.prefix + o.key);
      if (batch.length === 1000) await flush();
    }
    await flush();
    return n;
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
