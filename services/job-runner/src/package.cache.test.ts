import { silentLogger } from '@im/logging';
import { LocalObjectStorage, type ObjectStorage } from '@im/storage';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { cacheName, PackageCache } from './package.cache';

describe('PackageCache', () => {
  let dir: string;
  let storage: LocalObjectStorage;
  let gets: string[];
  let counted: ObjectStorage;
  let n = 0;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-cache-test-'));
    storage = await LocalObjectStorage.open(path.join(dir, 'objects'));
    gets = [];
    counted = Object.create(storage) as ObjectStorage;
    counted.get = (key, range) => {
      gets.push(key);
      return storage.get(key, range);
    };
    await fs.mkdir(path.join(dir, 'jobs'));
  });

  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const put = (key: string, bytes: number, fill = 'x') =>
    storage.put(key, Readable.from([Buffer.alloc(bytes, fill)]));
  const target = () => path.join(dir, 'jobs', `pkg-${++n}.djar`);
  const signal = () => new AbortController().signal;
  const cached = async () => (await fs.readdir(path.join(dir, 'cache'))).sort();

  it('downloads once per package version and links the cached copy into each job', async () => {
    const cache = new PackageCache(path.join(dir, 'cache'), 1000, silentLogger());
    await cache.init();
    await put('c/1/a.djar', 100);
    const t1 = target();
    expect(await cache.fetch(counted, 'c/1/a.djar', t1, signal())).toMatchObject({ size: 100, hit: false });
    const t2 = target();
    expect(await cache.fetch(counted, 'c/1/a.djar', t2, signal())).toMatchObject({ size: 100, hit: true });
    expect(gets).toEqual(['c/1/a.djar']);
    expect((await fs.stat(t2)).size).toBe(100);
    // A job may remove its own copy (the unpacker does): the cache keeps its file.
    await fs.rm(t1);
    await fs.rm(t2);
    expect(await cached()).toHaveLength(1);

    await put('c/1/a.djar', 120, 'y'); // uploaded again: another version
    expect(await cache.fetch(counted, 'c/1/a.djar', target(), signal())).toMatchObject({
      size: 120,
      hit: false,
    });
    expect(gets).toHaveLength(2);
    // The same bytes under another configuration's key are another entry.
    await put('c/2/a.djar', 100);
    expect(await cache.fetch(counted, 'c/2/a.djar', target(), signal())).toMatchObject({ hit: false });
    expect(gets).toHaveLength(3);
  });

  it('evicts the least recently used packages to stay within its size', async () => {
    const cache = new PackageCache(path.join(dir, 'cache'), 250, silentLogger());
    await cache.init();
    for (const k of ['a', 'b']) {
      await put(`c/1/${k}.djar`, 100);
      await cache.fetch(counted, `c/1/${k}.djar`, target(), signal());
    }
    await cache.fetch(counted, 'c/1/a.djar', target(), signal()); // a is now the most recent
    await put('c/1/c.djar', 100);
    await cache.fetch(counted, 'c/1/c.djar', target(), signal());
    expect(cache.size).toBe(200);
    const names = async (keys: string[]) =>
      Promise.all(
        keys.map(
          async (k) => `${cacheName({ key: k, etag: (await storage.head(k))!.etag, size: 100 })}.djar`,
        ),
      );
    expect(await cached()).toEqual((await names(['c/1/a.djar', 'c/1/c.djar'])).sort());
    gets.length = 0;
    expect(await cache.fetch(counted, 'c/1/b.djar', target(), signal())).toMatchObject({ hit: false });
    expect(gets).toEqual(['c/1/b.djar']);
  });

  it('downloads a package larger than the whole cache straight to the job', async () => {
    const cache = new PackageCache(path.join(dir, 'cache'), 50, silentLogger());
    await cache.init();
    await put('c/1/big.djar', 100);
    const t = target();
    expect(await cache.fetch(counted, 'c/1/big.djar', t, signal())).toMatchObject({ size: 100, hit: false });
    expect((await fs.stat(t)).size).toBe(100);
    expect(await cached()).toEqual([]);
  });

  it('answers null for a missing package and never downloads with the cache off', async () => {
    const on = new PackageCache(path.join(dir, 'cache'), 1000, silentLogger());
    await on.init();
    expect(await on.fetch(counted, 'c/1/none.djar', target(), signal())).toBeNull();
    const off = new PackageCache(path.join(dir, 'cache-off'), 0, silentLogger());
    await off.init();
    await put('c/1/a.djar', 10);
    await off.fetch(counted, 'c/1/a.djar', target(), signal());
    await off.fetch(counted, 'c/1/a.djar', target(), signal());
    expect(gets).toEqual(['c/1/a.djar', 'c/1/a.djar']);
    await expect(fs.stat(path.join(dir, 'cache-off'))).rejects.toThrow();
  });

  it('takes over what an earlier run cached and drops partial files', async () => {
    const first = new PackageCache(path.join(dir, 'cache'), 1000, silentLogger());
    await first.init();
    await put('c/1/a.djar', 100);
    await first.fetch(counted, 'c/1/a.djar', target(), signal());
    await fs.writeFile(path.join(dir, 'cache', '.tmp-leftover'), 'partial');
    const second = new PackageCache(path.join(dir, 'cache'), 1000, silentLogger());
    await second.init();
    expect(second.size).toBe(100);
    expect(await second.fetch(counted, 'c/1/a.djar', target(), signal())).toMatchObject({ hit: true });
    expect(gets).toHaveLength(1);
    expect((await cached()).some((f) => f.startsWith('.tmp-'))).toBe(false);
  });

  it('shares one download between jobs; it stops only when every waiting job is stopped', async () => {
    await put('c/1/slow.djar', 10);
    const bodies: PassThrough[] = [];
    const slow = Object.create(storage) as ObjectStorage;
    slow.get = async (key) => {
      gets.push(key);
      const info = (await storage.head(key))!;
      const body = new PassThrough();
      bodies.push(body);
      return { info, body };
    };
    const cache = new PackageCache(path.join(dir, 'cache'), 1000, silentLogger());
    await cache.init();
    const a = new AbortController();
    const b = new AbortController();
    const pa = cache.fetch(slow, 'c/1/slow.djar', target(), a.signal);
    const pb = cache.fetch(slow, 'c/1/slow.djar', target(), b.signal);
    await new Promise((r) => setTimeout(r, 20));
    expect(gets).toHaveLength(1);
    a.abort(new DOMException('stopped', 'AbortError'));
    await expect(pa).rejects.toThrow('stopped');
    // b still waits; the download goes on for it.
    bodies[0]?.end(Buffer.alloc(10, 'z'));
    expect(await pb).toMatchObject({ size: 10, hit: false });

    // When the only waiting job stops, the download stops and nothing is cached.
    await put('c/1/slow2.djar', 10);
    const c = new AbortController();
    const pc = cache.fetch(slow, 'c/1/slow2.djar', target(), c.signal);
    await new Promise((r) => setTimeout(r, 20));
    c.abort(new DOMException('stopped', 'AbortError'));
    await expect(pc).rejects.toThrow('stopped');
    await new Promise((r) => setTimeout(r, 20));
    expect(bodies[1]?.destroyed).toBe(true);
    expect(await cached()).toHaveLength(1);
  });
});
