import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ByteLimit,
  checkEntry,
  looksLikeZip,
  NotAZipError,
  PackageTally,
  UnsafePackageError,
  ZipSignatureCheck,
} from './zip-safety';

async function drain(source: Readable, through: Transform): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(source, through, async (s: AsyncIterable<string | Buffer>) => {
    for await (const c of s) out.push(Buffer.from(c));
  });
  return Buffer.concat(out);
}

describe('package rules', () => {
  const file = (name: string, uncompressedSize = 10, compressedSize = 10, unixMode = 0o100644) => ({
    name,
    uncompressedSize,
    compressedSize,
    unixMode,
  });

  it.each([
    ['../../evil', /'\.\.' segment/],
    ['/etc/passwd', /absolute path/],
    ['C:/x', /absolute path/],
    ['a\\b', /backslash/],
  ])('refuses the name %j', (name, reason) => {
    expect(() => checkEntry(file(name))).toThrow(reason);
  });

  it('refuses links and special files, accepts files and directories', () => {
    expect(() => checkEntry(file('l', 10, 10, 0o120777))).toThrow(/symbolic link/);
    expect(() => checkEntry(file('fifo', 0, 0, 0o010644))).toThrow(/special file/);
    expect(checkEntry(file('a/b.txt'))).toBe('file');
    expect(checkEntry(file('a/', 0, 0, 0o040755))).toBe('directory');
    expect(checkEntry(file('plain', 10, 10, 0))).toBe('file');
  });

  it('refuses an entry that expands more than 100 times, and a package that does in all', () => {
    expect(() => checkEntry(file('b', 200 * 1024 * 1024, 1024 * 1024))).toThrow(/zip bomb/);
    expect(checkEntry(file('ok', 50 * 1024 * 1024, 1024 * 1024))).toBe('file');
    const tally = new PackageTally({ maxBytes: 1024 ** 3, maxEntries: 100, maxRatio: 100 });
    expect(() => {
      for (let i = 0; i < 10; i++) tally.add(file(`z${i}`, 1024 * 1024, 1000));
    }).toThrow(/in all .*zip bomb/);
  });

  it('counts entries and declared bytes against the limits', () => {
    const tally = new PackageTally({ maxBytes: 100, maxEntries: 2 });
    tally.add(file('a', 60, 60));
    expect(() => tally.add(file('b', 60, 60))).toThrow(/more than the limit of 100 bytes/);
    expect(() => tally.add(file('c'))).toThrow(UnsafePackageError);
  });
});

describe('ByteLimit', () => {
  it('passes up to the limit and fails beyond it, whatever was declared', async () => {
    expect(
      (await drain(Readable.from([Buffer.alloc(5), Buffer.alloc(5)]), new ByteLimit(10, 'x'))).length,
    ).toBe(10);
    await expect(
      drain(Readable.from([Buffer.alloc(6), Buffer.alloc(5)]), new ByteLimit(10, 'entry x')),
    ).rejects.toThrow(/entry x inflates to more than 10 bytes/);
  });
});

describe('ZipSignatureCheck', () => {
  it('passes a zip through byte for byte, even when its signature arrives split', async () => {
    const bytes = Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(100, 7)]);
    const parts = [bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)];
    expect((await drain(Readable.from(parts), new ZipSignatureCheck('p.djar'))).equals(bytes)).toBe(true);
    const empty = Buffer.from('PK\x05\x06' + '\0'.repeat(18), 'latin1');
    expect((await drain(Readable.from([empty]), new ZipSignatureCheck('e.djar'))).equals(empty)).toBe(true);
  });

  it('fails anything else, short files included', async () => {
    for (const body of ['not a zip', 'PK', '', 'PK\x03\x05']) {
      await expect(
        drain(Readable.from(body ? [Buffer.from(body, 'latin1')] : []), new ZipSignatureCheck('p.djar')),
      ).rejects.toBeInstanceOf(NotAZipError);
    }
    expect(looksLikeZip(Buffer.from('PK\x03\x04', 'latin1'))).toBe(true);
    expect(looksLikeZip(Buffer.from('PK\x03', 'latin1'))).toBe(false);
  });
});
