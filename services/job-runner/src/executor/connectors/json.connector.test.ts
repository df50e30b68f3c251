import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { JsonArrayScanner, jsonFormat } from '../formats/json.format';
import { createJobFixture, readAll, writeAll, type JobFixture } from '../job.fixture';
import { jsonConnector } from './json.connector';

let f: JobFixture;
beforeEach(async () => {
  f = await createJobFixture();
});
afterEach(async () => {
  await f.cleanup();
});

const TRICKY = '[ {"a": "x,]}[{\\"y"}, 2 ,"s\\\\" , [1,[2]], null,\n{"nested": {"b": [1, {"c": "]"}]}} ]\n';
const TRICKY_ROWS = [{ a: 'x,]}[{"y' }, 2, 's\\', [1, [2]], null, { nested: { b: [1, { c: ']' }] } }];

function scanAll(text: string, chunk: number): unknown[] {
  const s = new JsonArrayScanner('t.json');
  const out: unknown[] = [];
  for (let i = 0; i < text.length; i += chunk)
    for (const e of s.push(text.slice(i, i + chunk))) out.push(JSON.parse(e.text));
  s.end();
  return out;
}

describe('JSON array scanner', () => {
  it('finds each element whatever the chunk boundaries, strings and nesting', () => {
    for (const size of [1, 2, 3, 7, 1000]) expect(scanAll(TRICKY, size)).toEqual(TRICKY_ROWS);
    expect(scanAll('[]', 1)).toEqual([]);
    expect(scanAll(' \n[ ] \n', 1)).toEqual([]);
  });

  it('fails on text that is no array, naming the line', () => {
    expect(() => scanAll('{"a": 1}', 1)).toThrow("t.json: is not a JSON array (it starts with '{') (line 1)");
    expect(() => scanAll('[1, 2', 1)).toThrow("t.json: ends before the closing ']' of its array (line 1)");
    expect(() => scanAll('[1,\n2,\n]', 1)).toThrow("t.json: has a ',' right before the closing ']' (line 3)");
    expect(() => scanAll('[1,,2]', 1)).toThrow("t.json: has an empty element before a ',' (line 1)");
    expect(() => scanAll('[1]\n[2]', 1)).toThrow(
      "t.json: has more after the closing ']' of its array (line 2)",
    );
    expect(() => scanAll('', 1)).toThrow('t.json: is empty: not a JSON array (line 1)');
  });

  it('refuses an element larger than its limit instead of holding it', () => {
    const s = new JsonArrayScanner('big.json', 10);
    expect(() => s.push('[1, "a very long string')).toThrow(
      'big.json: element 2 (line 1) is larger than 10 characters',
    );
  });

  it('streams a large array element by element without reading it whole', async () => {
    const n = 20_000;
    let produced = 0;
    async function* body() {
      yield '[';
      for (let i = 0; i < n; i++) {
        produced++;
        yield `${i ? ',' : ''}{"i":${i}}`;
      }
      yield ']';
    }
    let seen = 0;
    let maxLead = 0;
    for await (const item of jsonFormat.read(
      Readable.from(body(), { objectMode: false }),
      { encoding: 'utf8' },
      'gen',
    )) {
      if (!item.ok) throw new Error(item.reason);
      seen++;
      maxLead = Math.max(maxLead, produced - seen);
    }
    expect(seen).toBe(n);
    // The producer never ran far ahead of the consumer: backpressure, not buffering.
    expect(maxLead).toBeLessThan(5_000);
  });
});

describe('json connector', () => {
  it('reads the elements of an array file, rejecting a broken element with its position', async () => {
    await f.write('data/a.json', '[\n  {"id": 1},\n  {"id": 2,},\n  {"id": 3}\n]\n');
    const items = await readAll(f, jsonConnector, { path: 'data/a.json' });
    expect(items.map((i) => (i.ok ? [i.position, i.row] : [i.position, i.reason, i.raw]))).toEqual([
      ['element 1 (line 2)', { id: 1 }],
      ['element 2 (line 3)', expect.stringMatching(/^not valid JSON: /), '{"id": 2,}'],
      ['element 3 (line 4)', { id: 3 }],
    ]);
  });

  it('fails on a file that is no array', async () => {
    await f.write('o.json', '{"rows": []}');
    await expect(readAll(f, jsonConnector, { path: 'o.json' })).rejects.toThrow(
      "o.json: is not a JSON array (it starts with '{') (line 1)",
    );
  });

  it('writes an array row by row, and an empty one', async () => {
    expect(
      await writeAll(f, jsonConnector, { path: 'sub/out.json' }, [{ a: 1 }, [2], 'three', null]),
    ).toEqual([]);
    const text = await f.readOut('sub/out.json');
    expect(text).toBe('[\n{"a":1},\n[2],\n"three",\nnull\n]\n');
    expect(JSON.parse(text ?? '')).toEqual([{ a: 1 }, [2], 'three', null]);
    await writeAll(f, jsonConnector, { path: 'empty.json' }, []);
    expect(await f.readOut('empty.json')).toBe('[]\n');
  });

  it('reads and writes UTF-16LE', async () => {
    await writeAll(f, jsonConnector, { path: 'u16.json', encoding: 'utf16le' }, [{ name: 'Ärger' }]);
    const bytes = await fs.readFile(path.join(f.spec.outDir, 'u16.json'));
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xfe]));
    const items = await readAll(f, jsonConnector, { path: `${f.spec.outDir}/u16.json`, encoding: 'utf16le' });
    expect(items).toEqual([{ ok: true, row: { name: 'Ärger' }, position: 'element 1 (line 2)' }]);
  });
});
