import { buildZip, patchZipNames, type ZipEntrySpec } from '@im/testing';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PackageUnusableError } from './package-unusable.error';
import { unpackPackage, unsafePathReason } from './package.unpacker';

describe('unpackPackage', () => {
  let dir: string;
  let dest: string;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-unpack-'));
    dest = path.join(dir, 'job', 'spec');
    await fs.mkdir(dest, { recursive: true });
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function zipFile(
    entries: Record<string, string> | ZipEntrySpec[],
    patch?: [string, string],
  ): Promise<string> {
    let buf = await buildZip(entries);
    if (patch) buf = patchZipNames(buf, patch[0], patch[1]);
    const file = path.join(dir, 'pkg.djar');
    await fs.writeFile(file, buf);
    return file;
  }

  async function listTree(root: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await fs.readdir(root, { withFileTypes: true, recursive: true }))
      out.push(path.relative(root, path.join(e.parentPath, e.name)));
    return out.sort();
  }

  it('unpacks regular files and directories', async () => {
    const file = await zipFile({
      'main.process': 'steps: []',
      'data/customers.csv': 'a,b\n',
      'scripts/x.mjs': 'export default 1',
    });
    const r = await unpackPackage(file, dest);
    expect(r).toEqual({ files: 3, directories: 0, bytes: 9 + 4 + 16 });
    expect(await fs.readFile(path.join(dest, 'data', 'customers.csv'), 'utf8')).toBe('a,b\n');
  });

  it.each([
    ['../evil.txt', 'xx/evil.txt'],
    ['a/../../e.txt', 'a/xx/xx/e.txt'],
    ['/tmp/evil.txt', 'xtmp/evil.txt'],
    ['..\\evil.txt', 'xxxevil.txt'],
    ['C:/evil.txt', 'Cx/evil.txt'],
  ])('refuses %s and writes nothing outside', async (unsafe, placeholder) => {
    const file = await zipFile({ 'ok.txt': 'fine', [placeholder]: 'pwned' }, [placeholder, unsafe]);
    await expect(unpackPackage(file, dest)).rejects.toThrow(PackageUnusableError);
    expect((await listTree(dir)).filter((p) => p.includes('evil') || p.endsWith('e.txt'))).toEqual([]);
  });

  it('refuses symbolic links', async () => {
    const file = await zipFile([{ name: 'link', content: '/etc/passwd', mode: 0o120777 }]);
    await expect(unpackPackage(file, dest)).rejects.toThrow(/symbolic link/);
  });

  it('refuses duplicate entries', async () => {
    const file = await zipFile({ 'a.txt': '1', 'b.txt': '2' }, ['b.txt', 'a.txt']);
    await expect(unpackPackage(file, dest)).rejects.toThrow(/appears twice/);
  });

  it('enforces the entry count and the total size', async () => {
    const file = await zipFile({ a: '1', b: '2', c: '3' });
    await expect(unpackPackage(file, dest, { maxBytes: 100, maxEntries: 2 })).rejects.toThrow(
      /3 entries, more than the limit of 2/,
    );
    const big = await zipFile({ a: 'x'.repeat(600), b: 'y'.repeat(600) });
    await expect(
      unpackPackage(big, path.join(dir, 'job', 'spec'), { maxBytes: 1000, maxEntries: 10 }),
    ).rejects.toThrow(/more than the limit of 1000 bytes/);
  });

  it('refuses a zip bomb by its compression ratio, and writes nothing of it', async () => {
    // 50 MiB of zeros deflate to ~50 KiB: a ratio of ~1000.
    const file = await zipFile([{ name: 'bomb.bin', content: Buffer.alloc(50 * 1024 * 1024) }]);
    await expect(unpackPackage(file, dest)).rejects.toThrow(/looks like a zip bomb/);
    expect(await listTree(dest)).toEqual([]);
    // Real data of the same size compresses far less and is unpacked.
    const normal = await zipFile({
      'data.csv': Array.from(
        { length: 80_000 },
        (_, i) => `${i},name${(i * 7919) % 100_003},${(i * 31) % 977}`,
      ).join('\n'),
    });
    await expect(unpackPackage(normal, dest)).resolves.toMatchObject({ files: 1 });
  });

  it('says so when the file is not a zip', async () => {
    const file = path.join(dir, 'pkg.djar');
    await fs.writeFile(file, 'not a zip at all');
    await expect(unpackPackage(file, dest)).rejects.toThrow(/not a readable zip archive/);
  });
});

describe('unsafePathReason', () => {
  it.each([
    ['a/b.txt', null],
    ['./a.txt', null],
    ['', 'empty name'],
    ['/abs', 'absolute path'],
    ['a\\b', 'backslash in name'],
    ['a/../b', "'..' segment"],
    ['a\u0000b', 'control character in name'],
  ])('%j → %s', (name, reason) => {
    expect(unsafePathReason(name)).toBe(reason);
  });
});
