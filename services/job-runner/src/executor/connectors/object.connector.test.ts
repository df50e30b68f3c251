import { LocalObjectStorage } from '@im/storage';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { createJobFixture, readAll, settingsProblems, writeAll, type JobFixture } from '../job.fixture';
import { objectConnector, parseObjectUrl } from './object.connector';

let f: JobFixture;
let buckets: string;

async function readObject(bucket: string, key: string): Promise<string | null> {
  const storage = await LocalObjectStorage.open(path.join(buckets, bucket));
  const obj = await storage.get(key);
  if (!obj) return null;
  const chunks: Buffer[] = [];
  for await (const c of obj.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeEach(async () => {
  buckets = await fs.mkdtemp(path.join(os.tmpdir(), 'im-buckets-'));
  f = await createJobFixture({ objectStorage: { kind: 'local', bucketsRoot: buckets } });
});
afterEach(async () => {
  await f.cleanup();
  await fs.rm(buckets, { recursive: true, force: true });
});

describe('object connector', () => {
  it('writes and reads objects in the format of their extension, streaming through object storage', async () => {
    const rows = [
      { id: 1, name: 'Ann' },
      { id: 2, name: 'Bob' },
    ];
    expect(await writeAll(f, objectConnector, { url: 's3://exports/day/1.csv' }, rows)).toEqual([]);
    expect(await writeAll(f, objectConnector, { url: 's3://exports/day/1.jsonl' }, rows)).toEqual([]);
    expect(
      await writeAll(f, objectConnector, { url: 's3://exports/day/1.data', format: 'json' }, rows),
    ).toEqual([]);
    expect(await readObject('exports', 'day/1.csv')).toBe('id,name\n1,Ann\n2,Bob\n');
    expect(await readObject('exports', 'day/1.jsonl')).toBe('{"id":1,"name":"Ann"}\n{"id":2,"name":"Bob"}\n');
    expect(JSON.parse((await readObject('exports', 'day/1.data')) ?? '')).toEqual(rows);

    const rowsOf = async (settings: Record<string, unknown>) =>
      (await readAll(f, objectConnector, settings)).map((i) => (i.ok ? i.row : i.reason));
    expect(await rowsOf({ url: 's3://exports/day/1.csv' })).toEqual([
      { id: '1', name: 'Ann' },
      { id: '2', name: 'Bob' },
    ]);
    expect(await rowsOf({ url: 's3://exports/day/1.jsonl' })).toEqual(rows);
    expect(await rowsOf({ url: 's3://exports/day/1.data', format: 'json' })).toEqual(rows);
  });

  it('takes the CSV fields for format csv', async () => {
    const storage = await LocalObjectStorage.open(path.join(buckets, 'inbox'));
    await storage.put('x.txt', Readable.from([Buffer.from('1;Café\n', 'latin1')]));
    const items = await readAll(f, objectConnector, {
      url: 's3://inbox/x.txt',
      format: 'csv',
      header: ['id', 'name'],
      delimiter: ';',
      encoding: 'latin1',
    });
    expect(items).toEqual([{ ok: true, row: { id: '1', name: 'Café' }, position: 'line 1' }]);
  });

  it('fails clearly for a missing object and when the runner offers no object storage', async () => {
    await expect(readAll(f, objectConnector, { url: 's3://inbox/none.csv' })).rejects.toThrow(
      's3://inbox/none.csv does not exist',
    );
    const bare = await createJobFixture();
    try {
      await expect(readAll(bare, objectConnector, { url: 's3://inbox/a.csv' })).rejects.toThrow(
        'this runner offers no object storage to packages (s3:// URLs cannot be used)',
      );
    } finally {
      await bare.cleanup();
    }
  });

  it('leaves no object behind when the step gives up', async () => {
    const parsed = objectConnector.target?.parse({ url: 's3://out/partial.jsonl' });
    if (!parsed?.ok) throw new Error('expected valid settings');
    const sink = await parsed.bound.open({
      spec: f.spec,
      logger: f.logger,
      services: f.context().services,
      stepPath: 'load',
    });
    await sink.write({ a: 1 }, 'row 1');
    await sink.abort();
    expect(await readObject('out', 'partial.jsonl')).toBeNull();
  });

  it('refuses invalid URLs, buckets and keys, and CSV fields for other formats', () => {
    expect(parseObjectUrl('s3://bucket/a/b.csv')).toEqual({ bucket: 'bucket', key: 'a/b.csv' });
    expect(parseObjectUrl('https://bucket/a')).toBe('must be s3://bucket/key');
    expect(parseObjectUrl('s3://../a')).toBe("'..' is not a valid bucket name");
    expect(parseObjectUrl('s3://Bucket_1/a')).toBe("'Bucket_1' is not a valid bucket name");
    expect(parseObjectUrl('s3://bucket/a/../b')).toBe(
      "'a/../b' is not a valid object key (no empty, '.' or '..' segments)",
    );
    expect(
      settingsProblems(objectConnector, 'source', { url: 's3://bkt/x.json', encoding: 'latin1' }),
    ).toEqual([]);
    expect(settingsProblems(objectConnector, 'source', { url: 's3://bkt/x.json', delimiter: ';' })).toEqual([
      'delimiter: only for format csv',
    ]);
    expect(settingsProblems(objectConnector, 'target', { url: 's3://bkt/x.bin' })).toEqual([
      'format: required: the key does not end in .csv, .json or .jsonl',
    ]);
    expect(settingsProblems(objectConnector, 'target', { url: 's3://bkt/x.csv', strict: true })).toEqual([
      'strict: unknown field',
    ]);
  });

  it('runs in a transform from one object to another', async () => {
    const storage = await LocalObjectStorage.open(path.join(buckets, 'inbox'));
    await storage.put('people.jsonl', Readable.from(['{"n":"a"}\n{"n":"b"}\n']));
    const r = await f.run(
      [
        'steps:',
        '  - name: copy',
        '    type: transform',
        '    source: { connector: object, url: "s3://inbox/people.jsonl" }',
        '    map: { name: "$uppercase(n)" }',
        '    target: { connector: object, url: "s3://inbox/people.csv" }',
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    expect(await readObject('inbox', 'people.csv')).toBe('name\nA\nB\n');
    expect(f.lines).toContain(
      'INFO [step:copy] object s3://inbox/people.jsonl (jsonl) → object s3://inbox/people.csv (csv)',
    );
  });
});
