import { infraEnv, uniqueName } from '@im/testing';
import { Client } from 'pg';
import { createJobFixture, readAll, settingsProblems, writeAll, type JobFixture } from '../job.fixture';
import { postgresConnector } from './postgres.connector';

/** The postgres connector against the real PostgreSQL that scripts/infra starts; a schema per test. */
let admin: Client;
let f: JobFixture;
let schema: string;
const url = () => infraEnv().pgUrl;

beforeAll(async () => {
  admin = new Client({ connectionString: url() });
  await admin.connect();
});
afterAll(async () => {
  await admin.end();
});
beforeEach(async () => {
  schema = uniqueName('exec_pg');
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await admin.query(
    `CREATE TABLE "${schema}".customers (id int PRIMARY KEY, email text NOT NULL, name text, tags jsonb, created timestamptz DEFAULT now())`,
  );
  f = await createJobFixture();
});
afterEach(async () => {
  await f.cleanup();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
});

async function tableRows(): Promise<unknown[]> {
  const r = await admin.query(`SELECT id, email, name, tags FROM "${schema}".customers ORDER BY id`);
  return r.rows;
}

describe('postgres connector: target', () => {
  it('inserts rows in batches inside one transaction; missing fields take the column default', async () => {
    const rows = Array.from({ length: 5 }, (_, i) => ({
      id: i + 1,
      email: `u${i + 1}@x.org`,
      tags: ['a', i],
    }));
    const rejects = await writeAll(
      f,
      postgresConnector,
      { connection: url(), table: `${schema}.customers`, batchSize: 2 },
      [...rows, { id: 6, email: 'six@x.org', name: 'Six' }, { id: 7, email: 'e', nope: 1 }, 'text'],
    );
    expect(rejects.map((r) => [r.position, r.reason])).toEqual([
      ['row 7', `field(s) 'nope' are not columns of ${schema}.customers`],
      ['row 8', 'a table row must be an object, not a string'],
    ]);
    expect(await tableRows()).toEqual([
      ...rows.map((r) => ({ ...r, name: null })),
      { id: 6, email: 'six@x.org', name: 'Six', tags: null },
    ]);
    const created = await admin.query(
      `SELECT count(*)::int AS n FROM "${schema}".customers WHERE created IS NOT NULL`,
    );
    expect(created.rows[0].n).toBe(6);
  });

  it('upserts by key: updates the fields a row has, keeps the others, inserts new keys; last row of a key wins', async () => {
    await admin.query(
      `INSERT INTO "${schema}".customers (id, email, name) VALUES (1, 'old@x.org', 'Ann'), (2, 'b@x.org', 'Bob')`,
    );
    const rejects = await writeAll(
      f,
      postgresConnector,
      { connection: url(), table: `${schema}.customers`, mode: 'upsert', key: ['id'], batchSize: 10 },
      [
        { id: 1, email: 'new@x.org' },
        { id: 3, email: 'c@x.org', name: 'Cat' },
        { id: 3, email: 'c2@x.org', name: 'Cat 2' },
        { email: 'nokey@x.org' },
      ],
    );
    expect(rejects.map((r) => r.reason)).toEqual(['key field(s) id missing or null']);
    expect(await tableRows()).toEqual([
      { id: 1, email: 'new@x.org', name: 'Ann', tags: null },
      { id: 2, email: 'b@x.org', name: 'Bob', tags: null },
      { id: 3, email: 'c2@x.org', name: 'Cat 2', tags: null },
    ]);
  });

  it('rolls back every batch when one fails: nothing half-written remains', async () => {
    const rows = Array.from({ length: 9 }, (_, i) => ({ id: i + 1, email: i === 7 ? null : `u${i}@x.org` }));
    await expect(
      writeAll(f, postgresConnector, { connection: url(), table: `${schema}.customers`, batchSize: 3 }, rows),
    ).rejects.toThrow(
      new RegExp(
        `^insert into ${schema}\\.customers failed for a batch \\(row 7 … row 9\\); the transaction is rolled back: null value in column "email"`,
      ),
    );
    expect(await tableRows()).toEqual([]);
  });

  it('fails a transform whose batch fails, the table unchanged, and never logs the password', async () => {
    await f.write('in.jsonl', '{"id":1,"email":"a"}\n{"id":1,"email":"dup"}\n');
    const r = await f.run(
      [
        'steps:',
        '  - name: load',
        '    type: transform',
        '    source: { connector: jsonl, path: in.jsonl }',
        `    target: { connector: postgres, connection: "${url()}", table: ${schema}.customers }`,
      ].join('\n'),
    );
    expect(r.ok).toBe(false);
    const log = f.lines.join('\n');
    expect(log).toContain('duplicate key value violates unique constraint');
    expect(log).toContain('Key (id)=(1) already exists.');
    expect(log).not.toContain(new URL(url()).password);
    expect(await tableRows()).toEqual([]);
  });

  it('refuses a table that does not exist and key columns it lacks', async () => {
    await expect(
      writeAll(f, postgresConnector, { connection: url(), table: `${schema}.nope` }, [{ id: 1 }]),
    ).rejects.toThrow(`table ${schema}.nope does not exist (or is not visible to this user)`);
    await expect(
      writeAll(
        f,
        postgresConnector,
        { connection: url(), table: `${schema}.customers`, mode: 'upsert', key: ['code'] },
        [{ id: 1 }],
      ),
    ).rejects.toThrow(`key column(s) code are not columns of ${schema}.customers`);
    expect(settingsProblems(postgresConnector, 'target', { connection: url(), table: 'a.b.c' })).toEqual([
      "table: must be 'table' or 'schema.table'",
    ]);
  });

  it('quotes identifiers: a table and columns with odd names are written as they are named', async () => {
    await admin.query(`CREATE TABLE "${schema}"."Odd ""Table""" ("Mixed Case" text, "semi;colon" int)`);
    await writeAll(f, postgresConnector, { connection: url(), table: `${schema}.Odd "Table"` }, [
      { 'Mixed Case': "it's", 'semi;colon': 1 },
    ]);
    const r = await admin.query(`SELECT * FROM "${schema}"."Odd ""Table"""`);
    expect(r.rows).toEqual([{ 'Mixed Case': "it's", 'semi;colon': 1 }]);
  });
});

describe('postgres connector: source', () => {
  it('streams a query of 10k rows through a cursor, in order, with parameters', async () => {
    const items = await readAll(f, postgresConnector, {
      connection: url(),
      query:
        "SELECT g AS n, 'row ' || g AS label, $1::text AS tag FROM generate_series(1, $2::int) g ORDER BY g",
      params: ['t', 10_000],
      batchSize: 500,
    });
    expect(items).toHaveLength(10_000);
    expect(items[0]).toEqual({ ok: true, row: { n: 1, label: 'row 1', tag: 't' }, position: 'row 1' });
    expect(items[9_999]).toEqual({
      ok: true,
      row: { n: 10_000, label: 'row 10000', tag: 't' },
      position: 'row 10000',
    });
  });

  it('gives timestamps as ISO strings and fails clearly on a bad query', async () => {
    const items = await readAll(f, postgresConnector, {
      connection: url(),
      query: "SELECT timestamptz '2026-01-02T03:04:05Z' AS at, '\\x0102'::bytea AS raw",
    });
    expect(items).toEqual([
      { ok: true, row: { at: '2026-01-02T03:04:05.000Z', raw: 'AQI=' }, position: 'row 1' },
    ]);
    await expect(
      readAll(f, postgresConnector, { connection: url(), query: 'SELECT nope FROM nowhere' }),
    ).rejects.toThrow('query failed: relation "nowhere" does not exist');
  });

  it('copies a table to a file and back into another table in a transform', async () => {
    await admin.query(
      `INSERT INTO "${schema}".customers (id, email) SELECT g, 'u' || g FROM generate_series(1, 1200) g`,
    );
    await admin.query(`CREATE TABLE "${schema}".copy (id int PRIMARY KEY, email text)`);
    const r = await f.run(
      [
        'steps:',
        '  - name: export',
        '    type: transform',
        `    source: { connector: postgres, connection: "${url()}", query: "SELECT id, email FROM ${schema}.customers ORDER BY id", batchSize: 100 }`,
        '    target: { connector: jsonl, path: customers.jsonl }',
        '  - name: import',
        '    type: transform',
        '    source: { connector: jsonl, path: "$(LOCAL_JOB_OUT_DIR)/customers.jsonl" }',
        '    map: { id: "id", email: "$uppercase(email)" }',
        `    target: { connector: postgres, connection: "${url()}", table: ${schema}.copy, batchSize: 250 }`,
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    const n = await admin.query(`SELECT count(*)::int AS n, max(email) AS m FROM "${schema}".copy`);
    expect(n.rows[0]).toEqual({ n: 1200, m: 'U999' });
    expect(f.lines).toContainEqual(
      expect.stringMatching(/\[step:import\] read 1200 row\(s\), wrote 1200, rejected 0 in/),
    );
  });
});
