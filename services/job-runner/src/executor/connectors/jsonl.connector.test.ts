import { createJobFixture, readAll, settingsProblems, writeAll, type JobFixture } from '../job.fixture';
import { jsonlConnector } from './jsonl.connector';

let f: JobFixture;
beforeEach(async () => {
  f = await createJobFixture();
});
afterEach(async () => {
  await f.cleanup();
});

describe('jsonl connector', () => {
  it('reads one value per line; a bad line is an item to reject with its line number, not a crash', async () => {
    await f.write('data/a.jsonl', '{"id":1}\r\n\n{"id":2\n  \n{"id":3}');
    const items = await readAll(f, jsonlConnector, { path: 'data/a.jsonl' });
    expect(items).toEqual([
      { ok: true, row: { id: 1 }, position: 'line 1' },
      { ok: false, raw: '{"id":2', position: 'line 3', reason: expect.stringMatching(/^not valid JSON: /) },
      { ok: true, row: { id: 3 }, position: 'line 5' },
    ]);
  });

  it('counts lines across chunks and decodes characters split between chunks', async () => {
    const rows = Array.from({ length: 5000 }, (_, i) => ({ i, s: 'é€𝄞'.repeat(i % 7) }));
    await f.write('big.jsonl', rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const items = await readAll(f, jsonlConnector, { path: 'big.jsonl' });
    expect(items).toHaveLength(5000);
    expect(items[4999]).toEqual({ ok: true, row: rows[4999], position: 'line 5000' });
  });

  it('writes one JSON value per line and rejects what is no JSON value', async () => {
    const rejects = await writeAll(f, jsonlConnector, { path: 'out.jsonl' }, [{ a: 1 }, undefined, 'x']);
    expect(rejects).toEqual([
      { row: undefined, position: 'row 2', reason: 'no value cannot be written as JSON' },
    ]);
    expect(await f.readOut('out.jsonl')).toBe('{"a":1}\n"x"\n');
  });

  it('a transform rejects a bad line at stage read and goes on within maxErrors', async () => {
    await f.write('in.jsonl', '{"a":1}\nnot json\n{"a":2}\n');
    const r = await f.run(
      'steps:\n  - name: copy\n    type: transform\n    source: { connector: jsonl, path: in.jsonl }\n    target: { connector: jsonl, path: copy.jsonl }\n    maxErrors: 1\n',
    );
    expect(r.ok).toBe(true);
    expect(await f.readOut('copy.jsonl')).toBe('{"a":1}\n{"a":2}\n');
    expect(JSON.parse((await f.readOut('copy.rejects.jsonl')) ?? '')).toEqual({
      stage: 'read',
      position: 'line 2',
      reason: expect.stringMatching(/^not valid JSON: /),
      row: 'not json',
    });
  });

  it('refuses unknown settings', () => {
    expect(settingsProblems(jsonlConnector, 'source', { path: 'a', header: true })).toEqual([
      'header: unknown field',
    ]);
  });
});
