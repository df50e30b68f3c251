import { buildZip, infraEnv, uniqueName } from '@im/testing';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { LocalObjectStorage } from './local-storage';
import { PayloadTooLargeError, type ObjectStorage } from './object-storage';
import { S3ObjectStorage } from './s3-storage';
import { entryPointsOf, listZipEntries, openZip } from './zip-reader';

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
});
