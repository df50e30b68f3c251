import { buildZip, infraEnv, uniqueName } from '@im/testing';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { LocalObjectStorage } from './local-storage';
import { PayloadTooLargeError, type ObjectStorage } from './object-storage';
import { S3ObjectStorage } from './s3-storage';
import { entryPointsOf, listZipEntries, openZip } from './zip-reader';

const MiB = 1024 * 1024;

/** Bytes whose value depends on their offset, so a part stored out of order changes the hash. */
function patternBytes(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + (i >> 16)) & 0xff;
  return b;
}
const sha256Of = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The pattern as a stream of odd-sized chunks, as an HTTP request body arrives. */
function patterned(size: number, chunk: number): Readable {
  const all = patternBytes(size);
  return Readable.from(
    (function* () {
      for (let at = 0; at < size; at += chunk) yield all.subarray(at, Math.min(size, at + chunk));
    })(),
  );
}

const text = async (r: Readable) => {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
};

/** The same behaviour on both adapters: the real S3 server that scripts/infra starts, and a local directory. */
describe.each([
  [
    's3',
    () => {
      const env = infraEnv();
      return Promise.resolve(
        new S3ObjectStorage({ ...env.s3, forcePathStyle: true, keyPrefix: `${uniqueName('t')}/` }),
      );
    },
  ],
  ['local', () => LocalObjectStorage.open(fs.mkdtempSync(path.join(os.tmpdir(), 'im-storage-')))],
])('ObjectStorage on %s', (_kind, open: () => Promise<ObjectStorage>) => {
  let storage: ObjectStorage;

  beforeAll(async () => {
    storage = await open();
    await storage.ping();
  });
  afterAll(async () => {
    await storage.deletePrefix('');
    await storage.close();
  });

  it('streams an object in and out, with size and sha256', async () => {
    const put = await storage.put(
      'a/b/hello.txt',
      Readable.from([Buffer.from('hello '), Buffer.from('world')]),
      { contentType: 'text/plain' },
    );
    expect(put).toMatchObject({
      size: 11,
      sha256: 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9',
    });
    const got = await storage.get('a/b/hello.txt');
    expect(got?.info.size).toBe(11);
    expect(await text(got!.body)).toBe('hello world');
    expect((await storage.head('a/b/hello.txt'))?.contentType).toBe('text/plain');
  });

  it('reads byte ranges', async () => {
    await storage.put('range.txt', Readable.from([Buffer.from('0123456789')]));
    expect(await text((await storage.get('range.txt', { start: 2, end: 4 }))!.body)).toBe('234');
    expect(await text((await storage.get('range.txt', { start: 7 }))!.body)).toBe('789');
  });

  it('answers null for a missing object', async () => {
    expect(await storage.head('nope/missing')).toBeNull();
    expect(await storage.get('nope/missing')).toBeNull();
  });

  it('refuses a body over the limit and stores nothing, keeping the previous object', async () => {
    await storage.put('limited.bin', Readable.from([Buffer.from('old')]));
    const big = Readable.from([Buffer.alloc(600), Buffer.alloc(600)]);
    await expect(storage.put('limited.bin', big, { maxBytes: 1000 })).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    );
    expect(await text((await storage.get('limited.bin'))!.body)).toBe('old');
  });

  it('lists by prefix in key order and deletes by prefix', async () => {
    for (const k of ['p/x/2', 'p/x/1', 'p/y/3', 'q/4']) await storage.put(k, Readable.from([Buffer.from(k)]));
    const keys: string[] = [];
    for await (const o of storage.list('p/')) keys.push(o.key);
    expect(keys).toEqual(['p/x/1', 'p/x/2', 'p/y/3']);
    expect(await storage.deletePrefix('p/')).toBe(3);
    expect(await storage.head('p/x/1')).toBeNull();
    expect(await storage.head('q/4')).not.toBeNull();
  });

  it("reads a zip's entry points from its central directory", async () => {
    const zip = await buildZip({
      'main.process': 'steps: []',
      'lib/util.js': '',
      'node_modules/x/index.js': '',
      'data/a.csv': 'a',
    });
    await storage.put('pkg.djar', Readable.from([zip]));
    const z = await openZip(storage, 'pkg.djar');
    expect(entryPointsOf(await listZipEntries(z!))).toEqual(['lib/util.js', 'main.process']);
  });

  it('multipart-uploads a large streamed body intact', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < 12; i++) yield chunk;
      })(),
    );
    const put = await storage.put('big.bin', body);
    expect(put.size).toBe(12 * 1024 * 1024);
    expect((await storage.head('big.bin'))?.size).toBe(12 * 1024 * 1024);
  });

  it.each([0, 1, MiB * 5 - 1, MiB * 5, MiB * 5 + 1, MiB * 15 + 3])(
    'stores %i bytes in order across part boundaries',
    async (size) => {
      const put = await storage.put(`sized-${size}.bin`, patterned(size, 64 * 1024 + 13));
      expect(put.size).toBe(size);
      expect(put.sha256).toBe(sha256Of(patternBytes(size)));
      const got = await storage.get(`sized-${size}.bin`);
      const hash = createHash('sha256');
      for await (const c of got!.body) hash.update(c as Buffer);
      expect(hash.digest('hex')).toBe(put.sha256);
    },
  );

  it('stores nothing when the body fails half way, keeping the previous object', async () => {
    await storage.put('broken.bin', Readable.from([Buffer.from('previous')]));
    const failing = Readable.from(
      (function* () {
        for (let i = 0; i < 12; i++) yield Buffer.alloc(MiB, i);
        throw new Error('client went away');
      })(),
    );
    await expect(storage.put('broken.bin', failing)).rejects.toThrow('client went away');
    expect(await text((await storage.get('broken.bin'))!.body)).toBe('previous');
  });
});

describe('S3 multipart uploads', () => {
  it('aborts the multipart upload when the body fails, leaving no parts behind', async () => {
    const env = infraEnv();
    const prefix = `${uniqueName('abort')}/`;
    const storage = new S3ObjectStorage({ ...env.s3, forcePathStyle: true, keyPrefix: prefix });
    const failing = Readable.from(
      (function* () {
        for (let i = 0; i < 12; i++) yield Buffer.alloc(MiB, i);
        throw new Error('client went away');
      })(),
    );
    await expect(storage.put('half.bin', failing)).rejects.toThrow('client went away');
    const client = new S3Client({
      endpoint: env.s3.endpoint,
      region: env.s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey },
    });
    const pending = await client.send(
      new ListMultipartUploadsCommand({ Bucket: env.s3.bucket, Prefix: prefix }),
    );
    expect(pending.Uploads ?? []).toEqual([]);
    expect(await storage.head('half.bin')).toBeNull();
    client.destroy();
    await storage.close();
  });
});
