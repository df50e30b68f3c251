// @aws-sdk/client-s3 against the local s3proxy: put/get/range/head, bad credentials, multipart,
// and (when the packages are installed) lib-storage streaming upload and presigned URLs.
// Needs S3_* from .infra/env and @aws-sdk/client-s3 resolvable from here (repo node_modules).
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  S3Client,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  HeadBucketCommand,
  DeleteObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
} from '@aws-sdk/client-s3';

const { S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET: Bucket, S3_REGION } = process.env;
const client = (secretAccessKey) =>
  new S3Client({
    endpoint: S3_ENDPOINT,
    region: S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey },
  });
const s3 = client(S3_SECRET_KEY);
const prefix = `infra-smoke-${Date.now()}/`;
const sha = (b) => createHash('sha256').update(b).digest('hex');
const readAll = async (key) =>
  Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket, Key: key }))).Body.transformToByteArray());
const optional = async (name) => import(name).catch(() => null);
let passed = 0;
let failed = 0;
let skipped = 0;

async function step(name, fn) {
  const t = Date.now();
  try {
    const r = await fn();
    if (r === 'SKIP') {
      skipped++;
      console.log(`SKIP ${name} (package not installed)`);
      return;
    }
    passed++;
    console.log(`PASS ${name} (${Date.now() - t} ms)${typeof r === 'string' ? ` ${r}` : ''}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.name} ${e.message}`);
  }
}

const body = randomBytes(100_000);
await step('HeadBucket', () => s3.send(new HeadBucketCommand({ Bucket })));
await step('PutObject + GetObject round-trip (SDK default checksums)', async () => {
  await s3.send(
    new PutObjectCommand({ Bucket, Key: `${prefix}a.bin`, Body: body, Metadata: { foo: 'bar' } }),
  );
  if (sha(await readAll(`${prefix}a.bin`)) !== sha(body)) throw new Error('content mismatch');
});
await step('GetObject with Range', async () => {
  const r = await s3.send(new GetObjectCommand({ Bucket, Key: `${prefix}a.bin`, Range: 'bytes=10-19' }));
  if (!Buffer.from(await r.Body.transformToByteArray()).equals(body.subarray(10, 20)))
    throw new Error('bad range');
});
await step('HeadObject on a missing key is a 404', async () => {
  try {
    await s3.send(new HeadObjectCommand({ Bucket, Key: `${prefix}missing` }));
  } catch (e) {
    if (e.$metadata?.httpStatusCode === 404) return;
    throw e;
  }
  throw new Error('no error');
});
await step('a wrong secret key is a 403', async () => {
  try {
    await client('x'.repeat(40)).send(new HeadBucketCommand({ Bucket }));
  } catch (e) {
    if (e.$metadata?.httpStatusCode === 403) return;
    throw e;
  }
  throw new Error('no error');
});
await step('multipart upload (5 MiB + 5 MiB + 1 KiB)', async () => {
  const Key = `${prefix}mp.bin`;
  const parts = [randomBytes(5 << 20), randomBytes(5 << 20), randomBytes(1024)];
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
  const done = [];
  for (const [i, Body] of parts.entries()) {
    const r = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body }));
    done.push({ ETag: r.ETag, PartNumber: i + 1 });
  }
  await s3.send(
    new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: done } }),
  );
  if (sha(await readAll(Key)) !== sha(Buffer.concat(parts))) throw new Error('content mismatch');
});
await step('lib-storage Upload of a 12 MiB stream', async () => {
  const mod = await optional('@aws-sdk/lib-storage');
  if (!mod) return 'SKIP';
  const data = randomBytes(12 << 20);
  const Key = `${prefix}stream.bin`;
  const Body = Readable.from([data.subarray(0, 7 << 20), data.subarray(7 << 20)]);
  await new mod.Upload({ client: s3, params: { Bucket, Key, Body }, partSize: 5 << 20 }).done();
  if (sha(await readAll(Key)) !== sha(data)) throw new Error('content mismatch');
});
await step('presigned GET URL', async () => {
  const mod = await optional('@aws-sdk/s3-request-presigner');
  if (!mod) return 'SKIP';
  const url = await mod.getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: `${prefix}a.bin` }), {
    expiresIn: 60,
  });
  const r = await fetch(url);
  if (r.status !== 200 || sha(Buffer.from(await r.arrayBuffer())) !== sha(body))
    throw new Error(`HTTP ${r.status}`);
});
await step('DeleteObject', async () => {
  for (const k of ['a.bin', 'mp.bin', 'stream.bin']) {
    await s3.send(new DeleteObjectCommand({ Bucket, Key: `${prefix}${k}` }));
  }
});
console.log(`s3: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed || passed === 0 ? 1 : 0);
