import { S3ObjectStorage } from '@im/storage';
import { infraEnv, uniqueName } from '@im/testing';
import { createJobFixture, readAll, type JobFixture } from '../job.fixture';
import { objectConnector } from './object.connector';

/** The object connector on the real S3 server that scripts/infra starts; a key prefix per test. */
let f: JobFixture;
let storage: S3ObjectStorage;
let prefix: string;

beforeAll(() => {
  const s3 = infraEnv().s3;
  storage = new S3ObjectStorage({ ...s3, forcePathStyle: true });
});
afterAll(async () => {
  await storage.close();
});
beforeEach(async () => {
  const s3 = infraEnv().s3;
  prefix = uniqueName('exec-obj').replaceAll('_', '-');
  f = await createJobFixture({
    objectStorage: {
      kind: 's3',
      endpoint: s3.endpoint,
      region: s3.region,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      forcePathStyle: true,
    },
    macros: { BUCKET: s3.bucket, PREFIX: prefix },
  });
});
afterEach(async () => {
  await f.cleanup();
  await storage.deletePrefix(`${prefix}/`);
});

describe('object connector on S3', () => {
  it('streams rows into an object and back out of it', async () => {
    await f.write('people.csv', 'id,name\n1,Ann\n2,Bob\n');
    const r = await f.run(
      [
        'steps:',
        '  - name: upload',
        '    type: transform',
        '    source: { connector: csv, path: people.csv }',
        '    map: { id: "$number(id)", name: "name" }',
        '    target: { connector: object, url: "s3://$(BUCKET)/$(PREFIX)/people.jsonl" }',
        '  - name: download',
        '    type: transform',
        '    source: { connector: object, url: "s3://$(BUCKET)/$(PREFIX)/people.jsonl" }',
        '    target: { connector: object, url: "s3://$(BUCKET)/$(PREFIX)/copy.csv" }',
      ].join('\n'),
    );
    expect(f.lines.filter((l) => l.startsWith('SEVERE'))).toEqual([]);
    expect(r.ok).toBe(true);
    const { bucket } = infraEnv().s3;
    const copy = await readAll(f, objectConnector, { url: `s3://${bucket}/${prefix}/copy.csv` });
    expect(copy.map((i) => (i.ok ? i.row : null))).toEqual([
      { id: '1', name: 'Ann' },
      { id: '2', name: 'Bob' },
    ]);
    expect((await storage.head(`${prefix}/copy.csv`))?.contentType).toBe('text/csv; charset=utf-8');
  });

  it('leaves no object when the step fails', async () => {
    await f.write('n.csv', 'n\n1\nx\n');
    const r = await f.run(
      [
        'steps:',
        '  - name: upload',
        '    type: transform',
        '    source: { connector: csv, path: n.csv }',
        '    map: { n: "$number(n)" }',
        '    target: { connector: object, url: "s3://$(BUCKET)/$(PREFIX)/n.jsonl" }',
      ].join('\n'),
    );
    expect(r.ok).toBe(false);
    expect(await storage.head(`${prefix}/n.jsonl`)).toBeNull();
  });
});
