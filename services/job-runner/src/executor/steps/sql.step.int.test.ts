import { infraEnv, uniqueName } from '@im/testing';
import { Client } from 'pg';
import { createJobFixture, type JobFixture } from '../job.fixture';

/** The sql step against the real PostgreSQL that scripts/infra starts; a schema per test. */
let admin: Client;
let f: JobFixture;
let schema: string;

beforeAll(async () => {
  admin = new Client({ connectionString: infraEnv().pgUrl });
  await admin.connect();
});
afterAll(async () => {
  await admin.end();
});
beforeEach(async () => {
  schema = uniqueName('exec_sql');
  await admin.query(`CREATE SCHEMA "${schema}"`);
  f = await createJobFixture({ macros: { DWH_URL: infraEnv().pgUrl, SCHEMA: schema } });
});
afterEach(async () => {
  await f.cleanup();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
});

const count = async (table: string) =>
  (await admin.query(`SELECT count(*)::int AS n FROM "${schema}".${table}`)).rows[0].n as number;

describe('sql step', () => {
  it('runs statements in one transaction, logs the rows each affected, and exposes them to when', async () => {
    const r = await f.run(
      [
        'steps:',
        '  - name: setup',
        '    type: sql',
        '    connection: $(DWH_URL)',
        '    statements:',
        '      - CREATE TABLE $(SCHEMA).t (id int PRIMARY KEY, v text)',
        "      - INSERT INTO $(SCHEMA).t SELECT g, 'v' || g FROM generate_series(1, 5) g",
        "      - UPDATE $(SCHEMA).t SET v = 'even' WHERE id % 2 = 0",
        '  - name: report',
        '    type: log',
        '    message: changed rows',
        '    when: "steps.setup.rowsAffected = 7 and steps.setup.statements = 3"',
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    const step = f.lines.filter((l) => l.startsWith('INFO [step:setup]'));
    expect(step).toEqual([
      expect.stringMatching(/^INFO \[step:setup\] 3 statement\(s\) on 127\.0\.0\.1:\d+\/\w+$/),
      'INFO [step:setup] statement 1: CREATE',
      'INFO [step:setup] statement 2: INSERT, 5 row(s)',
      'INFO [step:setup] statement 3: UPDATE, 2 row(s)',
      'INFO [step:setup] committed: 3 statement(s), 7 row(s) affected',
    ]);
    expect(f.lines).toContain('INFO [step:report] changed rows');
    expect(await count('t')).toBe(5);
    expect(f.lines.join('\n')).not.toContain(new URL(infraEnv().pgUrl).password);
  });

  it('runs a .sql file of the package as one text, all or nothing, naming the failing line', async () => {
    await admin.query(`CREATE TABLE "${schema}".t (id int PRIMARY KEY)`);
    await f.write(
      'sql/load.sql',
      `INSERT INTO ${schema}.t VALUES (1);\nINSERT INTO ${schema}.t VALUES (2);\n\nINSERT INTO ${schema}.t VALUES (2);\n`,
    );
    const r = await f.run(
      'steps:\n  - name: load\n    type: sql\n    connection: $(DWH_URL)\n    file: sql/load.sql\n',
    );
    expect(r.ok).toBe(false);
    expect(f.lines).toContainEqual(
      expect.stringMatching(
        /^SEVERE \[executor\] step 'load' failed: sql\/load\.sql failed, nothing is committed: duplicate key value violates unique constraint .*Key \(id\)=\(2\) already exists\./,
      ),
    );
    expect(await count('t')).toBe(0);

    await f.write(
      'sql/ok.sql',
      `INSERT INTO ${schema}.t VALUES (1);\nDELETE FROM ${schema}.t WHERE id = 1;\nSELECT 1;\n`,
    );
    const ok = await f.run(
      'steps:\n  - name: ok\n    type: sql\n    connection: $(DWH_URL)\n    file: sql/ok.sql\n',
    );
    expect(ok.ok).toBe(true);
    expect(f.lines.filter((l) => l.startsWith('INFO [step:ok]')).slice(1)).toEqual([
      'INFO [step:ok] sql/ok.sql statement 1: INSERT, 1 row(s)',
      'INFO [step:ok] sql/ok.sql statement 2: DELETE, 1 row(s)',
      'INFO [step:ok] sql/ok.sql statement 3: SELECT, 1 row(s)',
      'INFO [step:ok] committed: 3 statement(s), 3 row(s) affected',
    ]);
  });

  it('names the line of a syntax error in a file, and rolls back earlier statements of a list', async () => {
    await f.write('bad.sql', `CREATE TABLE ${schema}.a (id int);\n\nSELEC 1;\n`);
    expect(
      (await f.run('steps:\n  - name: bad\n    type: sql\n    connection: $(DWH_URL)\n    file: bad.sql\n'))
        .ok,
    ).toBe(false);
    expect(f.lines).toContainEqual(
      expect.stringContaining(
        `step 'bad' failed: bad.sql line 3 failed, nothing is committed: syntax error at or near "SELEC"`,
      ),
    );
    const r = await f.run(
      [
        'steps:',
        '  - name: list',
        '    type: sql',
        '    connection: $(DWH_URL)',
        '    statements: ["CREATE TABLE $(SCHEMA).b (id int)", "INSERT INTO $(SCHEMA).b VALUES (\'x\')"]',
      ].join('\n'),
    );
    expect(r.ok).toBe(false);
    expect(f.lines).toContainEqual(
      expect.stringContaining(
        `step 'list' failed: statement 2 failed, nothing is committed: invalid input syntax for type integer`,
      ),
    );
    const tables = await admin.query('SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1', [
      schema,
    ]);
    expect(tables.rows[0].n).toBe(0);
  });

  it('applies a statement timeout', async () => {
    const r = await f.run(
      'steps:\n  - name: slow\n    type: sql\n    connection: $(DWH_URL)\n    timeoutSeconds: 0.2\n    statements: ["SELECT pg_sleep(5)"]\n',
    );
    expect(r.ok).toBe(false);
    expect(f.lines).toContainEqual(expect.stringContaining('canceling statement due to statement timeout'));
  });
});
