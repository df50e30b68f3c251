import { createJobFixture, type JobFixture } from '../job.fixture';

let f: JobFixture;
beforeEach(async () => {
  f = await createJobFixture();
});
afterEach(async () => {
  await f.cleanup();
});

const CUSTOMERS = ['ID,Email,Active', '1,ANN@X.ORG,Y', '2,bob@x.org,N', '3,CAT@X.ORG,Y', ''].join('\n');

function jsonLines(text: string | null): unknown[] {
  return (text ?? '')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

describe('transform step', () => {
  it('streams CSV through filter and map to JSON Lines and logs the counts', async () => {
    await f.write('data/customers.csv', CUSTOMERS);
    const r = await f.run(
      [
        'steps:',
        '  - name: load',
        '    type: transform',
        '    source: { connector: csv, path: data/customers.csv }',
        '    filter: "Active = \'Y\'"',
        '    map: { id: "$number(ID)", email: "$lowercase(Email)" }',
        '    target: { connector: jsonl, path: "$(LOCAL_JOB_OUT_DIR)/customers.jsonl" }',
      ].join('\n'),
    );
    expect(r).toEqual({ ok: true, problems: null });
    expect(jsonLines(await f.readOut('customers.jsonl'))).toEqual([
      { id: 1, email: 'ann@x.org' },
      { id: 3, email: 'cat@x.org' },
    ]);
    expect(f.lines).toContain(
      'INFO [step:load] csv data/customers.csv → jsonl $(LOCAL_JOB_OUT_DIR)/customers.jsonl',
    );
    expect(f.lines.find((l) => l.startsWith('INFO [step:load] read'))).toMatch(
      /^INFO \[step:load\] read 3 row\(s\), wrote 2, rejected 0, filtered out 1 in \d+ ms$/,
    );
    // No rejects: no reject file.
    expect(await f.readOut('load.rejects.jsonl')).toBeNull();
  });

  it('takes map as one JSONata expression returning an object, and no map at all', async () => {
    await f.write('data/customers.csv', CUSTOMERS);
    const r = await f.run(
      [
        'steps:',
        '  - name: whole',
        '    type: transform',
        '    source: { connector: csv, path: data/customers.csv }',
        '    map: \'{ "key": ID & "-" & Active }\'',
        '    target: { connector: json, path: whole.json }',
        '  - name: same',
        '    type: transform',
        '    source: { connector: csv, path: data/customers.csv }',
        '    target: { connector: jsonl, path: same.jsonl }',
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    expect(JSON.parse((await f.readOut('whole.json')) ?? '')).toEqual([
      { key: '1-Y' },
      { key: '2-N' },
      { key: '3-Y' },
    ]);
    expect(jsonLines(await f.readOut('same.jsonl'))).toEqual([
      { ID: '1', Email: 'ANN@X.ORG', Active: 'Y' },
      { ID: '2', Email: 'bob@x.org', Active: 'N' },
      { ID: '3', Email: 'CAT@X.ORG', Active: 'Y' },
    ]);
  });

  it('rejects a row whose map fails (with the reason) and fails the step with maxErrors 0', async () => {
    await f.write('data/n.csv', 'n\n1\nabc\n3\n');
    const r = await f.run(
      [
        'steps:',
        '  - name: numbers',
        '    type: transform',
        '    source: { connector: csv, path: data/n.csv }',
        '    map: { n: "$number(n)" }',
        '    target: { connector: jsonl, path: n.jsonl }',
      ].join('\n'),
    );
    expect(r.ok).toBe(false);
    const rejects = jsonLines(await f.readOut('numbers.rejects.jsonl'));
    expect(rejects).toEqual([
      {
        stage: 'map',
        position: 'line 3',
        reason: expect.stringMatching(/^field 'n': D3030: Unable to cast value to a number: "abc"/),
        row: { n: 'abc' },
      },
    ]);
    expect(f.lines).toContainEqual(
      expect.stringMatching(
        /^SEVERE \[executor\] step 'numbers' failed: line 3 rejected \(map\): field 'n': D3030: .*maxErrors is 0, so the step fails \(rejects in \$\(LOCAL_JOB_OUT_DIR\)\/numbers\.rejects\.jsonl\)$/,
      ),
    );
    // The target is abandoned: no partial output remains.
    expect(await f.readOut('n.jsonl')).toBeNull();
  });

  it('tolerates up to maxErrors rejects, writes each to the reject file, and fails past them', async () => {
    await f.write('data/n.csv', 'n\n1\nx\n2\ny\n3\n');
    const def = (maxErrors: number, name: string) =>
      [
        `  - name: ${name}`,
        '    type: transform',
        '    source: { connector: csv, path: data/n.csv }',
        '    map: { n: "$number(n)" }',
        `    target: { connector: jsonl, path: ${name}.jsonl }`,
        `    maxErrors: ${maxErrors}`,
        `    rejects: "$(LOCAL_JOB_WORK_DIR)/${name}-bad.jsonl"`,
      ].join('\n');
    const ok = await f.run(['steps:', def(2, 'two')].join('\n'));
    expect(ok.ok).toBe(true);
    expect(jsonLines(await f.readOut('two.jsonl'))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const fs = await import('node:fs/promises');
    const rejects = jsonLines(await fs.readFile(`${f.spec.workDir}/two-bad.jsonl`, 'utf8'));
    expect(rejects.map((r: any) => [r.position, r.stage, r.row])).toEqual([
      ['line 3', 'map', { n: 'x' }],
      ['line 5', 'map', { n: 'y' }],
    ]);
    expect(f.lines.find((l) => l.includes('[step:two] read'))).toMatch(
      /read 5 row\(s\), wrote 3, rejected 2 in/,
    );

    const failed = await f.run(['steps:', def(1, 'one')].join('\n'));
    expect(failed.ok).toBe(false);
    expect(f.lines).toContainEqual(
      expect.stringContaining(
        "step 'one' failed: more than maxErrors (1) rows rejected; the last: line 5 (map)",
      ),
    );
  });

  it('rejects a row whose filter fails, and a map result that is no object', async () => {
    await f.write('data/n.csv', 'n\n1\n2\n');
    const r = await f.run(
      [
        'steps:',
        '  - name: bad-filter',
        '    type: transform',
        '    source: { connector: csv, path: data/n.csv }',
        '    filter: "$number(n) > \'a\'"',
        '    target: { connector: jsonl, path: a.jsonl }',
        '    maxErrors: 10',
        '  - name: scalar',
        '    type: transform',
        '    source: { connector: csv, path: data/n.csv }',
        '    map: "n"',
        '    target: { connector: jsonl, path: b.jsonl }',
        '    maxErrors: 10',
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    const filterRejects = jsonLines(await f.readOut('bad-filter.rejects.jsonl'));
    expect(filterRejects).toHaveLength(2);
    expect(filterRejects[0]).toEqual({
      stage: 'filter',
      position: 'line 2',
      reason: expect.stringMatching(/^T2009: /),
      row: { n: '1' },
    });
    expect(jsonLines(await f.readOut('scalar.rejects.jsonl'))[0]).toMatchObject({
      stage: 'map',
      reason: 'map gives a string, not an object',
    });
    expect(await f.readOut('a.jsonl')).toBe('');
  });

  it('rejects rows the target cannot take (stage load)', async () => {
    await f.write('data/mixed.jsonl', '{"a":1}\n[1,2]\n{"a":2,"b":3}\n');
    const r = await f.run(
      [
        'steps:',
        '  - name: tocsv',
        '    type: transform',
        '    source: { connector: jsonl, path: data/mixed.jsonl }',
        '    target: { connector: csv, path: out.csv }',
        '    maxErrors: 5',
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    expect(await f.readOut('out.csv')).toBe('a\n1\n');
    expect(jsonLines(await f.readOut('tocsv.rejects.jsonl'))).toEqual([
      {
        stage: 'load',
        position: 'line 2',
        reason: 'a row without field names (an array) needs header: false or a list of columns',
        row: [1, 2],
      },
      {
        stage: 'load',
        position: 'line 3',
        reason: "field(s) 'b' not among the CSV columns (a)",
        row: { a: 2, b: 3 },
      },
    ]);
  });

  it('exposes rows read, written and rejected to later steps', async () => {
    await f.write('data/n.csv', 'n\n1\nx\n');
    const r = await f.run(
      [
        'steps:',
        '  - name: load',
        '    type: transform',
        '    source: { connector: csv, path: data/n.csv }',
        '    map: { n: "$number(n)" }',
        '    target: { connector: jsonl, path: n.jsonl }',
        '    maxErrors: 1',
        '  - name: report',
        '    type: log',
        '    message: "had rejects"',
        '    when: "steps.load.rowsRejected > 0 and steps.load.rowsWritten = 1 and steps.load.rowsRead = 2"',
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    expect(f.lines).toContain('INFO [step:report] had rejects');
  });

  it('checks the reject file path before any row is read', async () => {
    await f.write('data/n.csv', 'n\n1\n');
    const r = await f.run(
      'steps:\n  - name: a\n    type: transform\n    source: { connector: csv, path: data/n.csv }\n    target: { connector: jsonl, path: n.jsonl }\n    rejects: ../../rejects.jsonl\n',
    );
    expect(r.ok).toBe(false);
    expect(f.lines).toContain(
      "SEVERE [executor] step 'a' failed: '../../rejects.jsonl' must be a file path without '..' or '\\'.",
    );
    expect(await f.readOut('n.jsonl')).toBeNull();
  });

  it('refuses a target path outside the job and a source outside the package', async () => {
    await f.write('data/n.csv', 'n\n1\n');
    expect(
      (
        await f.run(
          'steps:\n  - name: a\n    type: transform\n    source: { connector: csv, path: data/n.csv }\n    target: { connector: jsonl, path: /etc/x.jsonl }\n',
        )
      ).ok,
    ).toBe(false);
    expect(f.lines).toContainEqual(
      expect.stringContaining(
        "step 'a' failed: '/etc/x.jsonl' must be inside $(LOCAL_JOB_OUT_DIR) or $(LOCAL_JOB_WORK_DIR)",
      ),
    );
    expect(
      (
        await f.run(
          'steps:\n  - name: b\n    type: transform\n    source: { connector: csv, path: ../x.csv }\n    target: { connector: jsonl, path: x.jsonl }\n',
        )
      ).ok,
    ).toBe(false);
    expect(f.lines).toContainEqual(
      expect.stringContaining("step 'b' failed: '../x.csv' must be a relative path inside the package"),
    );
  });
});
