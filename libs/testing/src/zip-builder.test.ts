import yauzl from 'yauzl';
import { uniqueName } from './infra-env';
import { buildZip } from './zip-builder';

interface ReadEntry {
  name: string;
  content: Buffer;
  mode: number;
}

/** Reads every entry of a zip archive back with yauzl, as the platform does. */
function readZip(bytes: Buffer): Promise<ReadEntry[]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const entries: ReadEntry[] = [];
      zip.on('error', reject);
      zip.on('end', () => resolve(entries));
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => {
            entries.push({
              name: entry.fileName,
              content: Buffer.concat(chunks),
              mode: entry.externalFileAttributes >>> 16,
            });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

describe('buildZip', () => {
  it('builds a zip whose entries have the given names and contents, in order', async () => {
    const bytes = await buildZip({
      'manifest.json': '{"name":"sample"}',
      'lib/main.js': 'console.log("hello");\n',
      'docs/ü-readme.txt': 'Grüße',
    });
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0x50, 0x4b, 0x03, 0x04]));

    const entries = await readZip(bytes);
    expect(entries.map((e) => [e.name, e.content.toString('utf8')])).toEqual([
      ['manifest.json', '{"name":"sample"}'],
      ['lib/main.js', 'console.log("hello");\n'],
      ['docs/ü-readme.txt', 'Grüße'],
    ]);
  });

  it('keeps binary contents byte for byte', async () => {
    const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) % 256));
    const [entry] = await readZip(await buildZip({ 'data.bin': binary }));
    expect(entry!.name).toBe('data.bin');
    expect(entry!.content.equals(binary)).toBe(true);
  });

  it('takes a list of specs with Unix modes, e.g. a symlink', async () => {
    const entries = await readZip(
      await buildZip([
        { name: 'bin/run.sh', content: '#!/bin/sh\n', mode: 0o100755 },
        { name: 'link', content: '../etc/passwd', mode: 0o120777 },
      ]),
    );
    expect(entries.map((e) => [e.name, e.mode, e.content.toString()])).toEqual([
      ['bin/run.sh', 0o100755, '#!/bin/sh\n'],
      ['link', 0o120777, '../etc/passwd'],
    ]);
  });

  it('is deterministic: the same entries give the same bytes', async () => {
    const a = await buildZip({ 'a.txt': 'A', 'b.txt': 'B' });
    const b = await buildZip({ 'a.txt': 'A', 'b.txt': 'B' });
    expect(a.equals(b)).toBe(true);
  });

  it('builds an empty archive that still opens', async () => {
    await expect(readZip(await buildZip({}))).resolves.toEqual([]);
  });
});

describe('uniqueName', () => {
  it('gives a different name on every call, starting with the prefix', () => {
    const names = Array.from({ length: 50 }, () => uniqueName('it_jobs'));
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n.startsWith('it_jobs_')).toBe(true);
  });

  it('is usable as a PostgreSQL schema name and a Kafka topic prefix', () => {
    // The same pattern DB_SCHEMA accepts, and only characters Kafka topic names allow.
    expect(uniqueName('itest')).toMatch(/^[a-z_][a-z0-9_]*$/);
  });
});
