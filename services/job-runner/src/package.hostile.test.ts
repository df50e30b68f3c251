import { buildZip, patchCentralDirectory, patchZipNames, type ZipEntrySpec } from '@im/testing';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PackageUnusableError } from './package-unusable.error';
import { unpackPackage } from './package.unpacker';

/**
 * Hostile packages (issue #7): each is refused with a clear error, and nothing lands outside the work
 * dir. The layout mirrors a runner's: <root>/work/<job>/spec is the target, <root> holds a bystander.
 */
describe('hostile packages', () => {
  let root: string;
  let work: string;
  let dest: string;

  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'im-hostile-'));
    work = path.join(root, 'work');
    dest = path.join(work, 'job-1', 'spec');
    await fs.mkdir(dest, { recursive: true });
    await fs.writeFile(path.join(root, 'bystander.txt'), 'untouched');
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  /** Every path under `dir` with its size, to compare before and after. */
  async function tree(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
      const p = path.join(e.parentPath, e.name);
      out.push(`${path.relative(dir, p)}${e.isFile() ? `:${(await fs.stat(p)).size}` : ''}`);
    }
    return out.sort();
  }

  async function pkg(bytes: Buffer | Promise<Buffer>): Promise<string> {
    // The package itself sits beside the work dir, as the runner's package cache does.
    const file = path.join(root, 'pkg.djar');
    await fs.writeFile(file, await bytes);
    return file;
  }

  /** Unpacks, expects a refusal matching `message`, and that nothing changed outside the job's spec dir. */
  async function expectRefused(file: string, message: RegExp, limits?: Parameters<typeof unpackPackage>[2]) {
    const outside = (await tree(root)).filter((p) => !p.startsWith(path.join('work', 'job-1', 'spec')));
    const err = await unpackPackage(file, dest, limits).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PackageUnusableError);
    expect((err as Error).message).toMatch(message);
    expect((err as PackageUnusableError).fix).toBeTruthy();
    const after = (await tree(root)).filter((p) => !p.startsWith(path.join('work', 'job-1', 'spec')));
    expect(after).toEqual(outside);
    expect(await fs.readFile(path.join(root, 'bystander.txt'), 'utf8')).toBe('untouched');
    return err as PackageUnusableError;
  }

  it('zip-slip: ../../evil is refused before anything is written', async () => {
    const file = await pkg(
      buildZip({ 'ok.txt': 'fine', 'xx/xx/evil': 'pwned' }).then((z) =>
        patchZipNames(z, 'xx/xx/evil', '../../evil'),
      ),
    );
    await expectRefused(
      file,
      /unsafe entry.*(invalid relative path|'\.\.' segment).*\.\.\/\.\.\/evil|unsafe entry '\.\.\/\.\.\/evil'/,
    );
    await expect(fs.stat(path.join(work, 'evil'))).rejects.toThrow(/ENOENT/);
  });

  it('an absolute path is refused', async () => {
    const file = await pkg(
      buildZip({ xtmp_im_evil: 'pwned' }).then((z) => patchZipNames(z, 'xtmp_im_evil', '/tmp_im_evil')),
    );
    await expectRefused(file, /unsafe entry.*absolute path/);
  });

  it('a backslash path and a drive letter are refused', async () => {
    const a = await pkg(buildZip({ 'xx-evil': 'x' }).then((z) => patchZipNames(z, 'xx-evil', '..\\evil')));
    await expectRefused(a, /unsafe entry/);
    const b = await pkg(buildZip({ 'Cx/evil': 'x' }).then((z) => patchZipNames(z, 'Cx/evil', 'C:/evil')));
    await expectRefused(b, /unsafe entry/);
  });

  it('a symlink entry is refused, and no link is created', async () => {
    const entries: ZipEntrySpec[] = [
      { name: 'a.txt', content: 'first' },
      { name: 'etc-link', content: '/etc/passwd', mode: 0o120777 },
    ];
    const file = await pkg(buildZip(entries));
    await expectRefused(file, /unsafe entry 'etc-link' in the package: symbolic link/);
    await expect(fs.lstat(path.join(dest, 'etc-link'))).rejects.toThrow(/ENOENT/);
  });

  it('a zip bomb (50 MiB of zeros in ~50 KiB) is refused by its ratio before inflating', async () => {
    const file = await pkg(buildZip([{ name: 'bomb.bin', content: Buffer.alloc(50 * 1024 * 1024) }]));
    expect((await fs.stat(file)).size).toBeLessThan(200 * 1024);
    await expectRefused(file, /expands \d+ times \(more than 100\): it looks like a zip bomb/);
    expect(await tree(dest)).toEqual([]);
  });

  it('many small entries that together expand too far are refused as a bomb too', async () => {
    // 16 entries of 512 KiB zeros: each below the per-entry check, together ~1000:1.
    const entries = Array.from({ length: 16 }, (_, i) => ({
      name: `z${i}.bin`,
      content: Buffer.alloc(512 * 1024),
    }));
    const file = await pkg(buildZip(entries));
    await expectRefused(file, /the package expands \d+ times in all .*zip bomb/);
  });

  it('an entry whose central directory declares 2 GiB is refused before any large write', async () => {
    const file = await pkg(
      buildZip({ 'small.txt': 'hello', 'huge.bin': 'tiny' }).then((z) =>
        patchCentralDirectory(z, 'huge.bin', { uncompressedSize: 2 * 1024 ** 3 }),
      ),
    );
    // With the default limits its ratio gives it away; without the ratio check, the size limit does.
    await expectRefused(file, /huge\.bin.*zip bomb/);
    await fs.rm(dest, { recursive: true });
    await fs.mkdir(dest);
    await expectRefused(
      file,
      /'huge\.bin' of the package declares 2147483648 bytes, more than the limit of 1073741824/,
      {
        maxBytes: 1024 ** 3,
        maxEntries: 100,
        maxRatio: Number.MAX_SAFE_INTEGER,
      },
    );
    expect(await tree(dest)).toEqual(['small.txt:5']);
  });

  it('an entry that inflates to more than it declares is cut off and removed', async () => {
    const file = await pkg(
      buildZip({ 'liar.txt': 'x'.repeat(5000) }).then((z) =>
        patchCentralDirectory(z, 'liar.txt', { uncompressedSize: 10 }),
      ),
    );
    await expectRefused(file, /liar\.txt|too many bytes/);
    expect(await tree(dest)).toEqual([]);
  });

  it('a package over the entry count is refused before reading its entries', async () => {
    const file = await pkg(buildZip({ a: '1', b: '2', c: '3' }));
    await expectRefused(file, /3 entries, more than the limit of 2/, { maxBytes: 1000, maxEntries: 2 });
    expect(await tree(dest)).toEqual([]);
  });

  it('a .djar that is not a zip is refused as unreadable', async () => {
    const file = await pkg(Promise.resolve(Buffer.from('MZ\x90\x00 this is not a zip archive at all')));
    await expectRefused(file, /not a readable zip archive/);
  });
});
