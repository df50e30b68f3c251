import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createJobFixture, readAll, settingsProblems, writeAll, type JobFixture } from '../job.fixture';
import { csvConnector } from './csv.connector';

let f: JobFixture;
beforeEach(async () => {
  f = await createJobFixture();
});
afterEach(async () => {
  await f.cleanup();
});

const rows = async (settings: Record<string, unknown>) =>
  (await readAll(f, csvConnector, settings)).map((i) => (i.ok ? [i.position, i.row] : ['bad', i.reason]));

describe('csv connector: source', () => {
  it('reads rows as objects named by the header line, skipping empty lines, with line positions', async () => {
    await f.write('data/a.csv', 'id,name\r\n1,"Ann, the ""first"""\r\n\r\n2,Bob\r\n');
    expect(await rows({ path: 'data/a.csv' })).toEqual([
      ['line 2', { id: '1', name: 'Ann, the "first"' }],
      ['line 4', { id: '2', name: 'Bob' }],
    ]);
  });

  it('takes column names from a list, a delimiter, a quote character and no header', async () => {
    await f.write('a.csv', "1;'a;b'\n2;c\n");
    expect(await rows({ path: 'a.csv', header: ['id', 'text'], delimiter: ';', quote: "'" })).toEqual([
      ['line 1', { id: '1', text: 'a;b' }],
      ['line 2', { id: '2', text: 'c' }],
    ]);
    expect(await rows({ path: 'a.csv', header: false, delimiter: ';', quote: "'" })).toEqual([
      ['line 1', ['1', 'a;b']],
      ['line 2', ['2', 'c']],
    ]);
  });

  it('decodes latin1 and UTF-16LE (with a byte order mark), and drops a UTF-8 byte order mark', async () => {
    await f.write('l1.csv', Buffer.from('name\nCafé\n', 'latin1'));
    await f.write(
      'u16.csv',
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('name\nÄrger\n', 'utf16le')]),
    );
    await f.write('bom.csv', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('name\nx\n')]));
    expect(await rows({ path: 'l1.csv', encoding: 'latin1' })).toEqual([['line 2', { name: 'Café' }]]);
    expect(await rows({ path: 'u16.csv', encoding: 'utf16le' })).toEqual([['line 2', { name: 'Ärger' }]]);
    expect(await rows({ path: 'bom.csv' })).toEqual([['line 2', { name: 'x' }]]);
  });

  it('fails on malformed CSV with a message naming the line', async () => {
    await f.write('quote.csv', 'id,name\n1,ok\n2,"never closed\n3,x\n');
    await expect(rows({ path: 'quote.csv' })).rejects.toThrow(
      'quote.csv: malformed CSV: a quoted field is never closed: it opens in the record after line 2 and the file ends inside it (line 4)',
    );
    await f.write('count.csv', 'id,name\n1,ok\n2\n');
    await expect(rows({ path: 'count.csv' })).rejects.toThrow(
      'count.csv line 3: malformed CSV: wrong number of fields: expected 2 fields, found 1 (set strict: false to tolerate it)',
    );
    await f.write('closing.csv', 'id,name\n1,"a"b\n');
    await expect(rows({ path: 'closing.csv' })).rejects.toThrow(
      /^closing\.csv line 2: malformed CSV: Invalid Closing Quote/,
    );
  });

  it('tolerates a wrong field count when strict is false', async () => {
    await f.write('count.csv', 'id,name\n1,ok\n2\n');
    expect(await rows({ path: 'count.csv', strict: false })).toEqual([
      ['line 2', { id: '1', name: 'ok' }],
      ['line 3', { id: '2' }],
    ]);
  });

  it('reads a file an earlier step wrote to the out dir, and nothing outside the job', async () => {
    await fs.writeFile(path.join(f.spec.outDir, 'prev.csv'), 'a\n1\n');
    expect(await rows({ path: `${f.spec.outDir}/prev.csv` })).toEqual([['line 2', { a: '1' }]]);
    await expect(rows({ path: '/etc/passwd' })).rejects.toThrow(
      "'/etc/passwd': an absolute path must be inside $(LOCAL_JOB_OUT_DIR) or $(LOCAL_JOB_WORK_DIR).",
    );
    await fs.symlink('/etc/passwd', path.join(f.spec.specDir, 'link.csv'));
    await expect(rows({ path: 'link.csv' })).rejects.toThrow("'link.csv' leads outside the package.");
    await expect(rows({ path: 'missing.csv' })).rejects.toThrow("'missing.csv' is not in the package.");
  });

  it('refuses unknown and invalid settings', () => {
    expect(
      settingsProblems(csvConnector, 'source', { path: 'a.csv', delimter: ';', encoding: 'ebcdic' }),
    ).toEqual([
      'encoding: Invalid option: expected one of "utf8"|"latin1"|"utf16le"',
      'delimter: unknown field',
    ]);
    expect(settingsProblems(csvConnector, 'target', { path: 'a.csv', strict: false })).toEqual([
      'strict: unknown field',
    ]);
  });
});

describe('csv connector: target', () => {
  it('writes a header from the first row and quotes what needs quoting', async () => {
    const rejects = await writeAll(f, csvConnector, { path: 'out.csv' }, [
      { id: 1, name: 'Ann, "A"', active: true, tags: ['x'] },
      { id: 2, name: 'Bob', active: false, tags: null },
    ]);
    expect(rejects).toEqual([]);
    expect(await f.readOut('out.csv')).toBe(
      'id,name,active,tags\n1,"Ann, ""A""",true,"[""x""]"\n2,Bob,false,\n',
    );
  });

  it('writes listed columns in order, with a delimiter, without a header, or in latin1', async () => {
    await writeAll(f, csvConnector, { path: 'cols.csv', header: ['b', 'a'], delimiter: ';' }, [
      { a: 1, b: 2 },
    ]);
    expect(await f.readOut('cols.csv')).toBe('b;a\n2;1\n');
    await writeAll(f, csvConnector, { path: 'noheader.csv', header: false }, [{ a: 1 }, { a: 2 }]);
    expect(await f.readOut('noheader.csv')).toBe('1\n2\n');
    await writeAll(f, csvConnector, { path: 'l1.csv', encoding: 'latin1' }, [{ name: 'Café' }]);
    expect(await fs.readFile(path.join(f.spec.outDir, 'l1.csv'))).toEqual(
      Buffer.from('name\nCafé\n', 'latin1'),
    );
    await writeAll(f, csvConnector, { path: 'empty.csv', header: ['a', 'b'] }, []);
    expect(await f.readOut('empty.csv')).toBe('a,b\n');
  });

  it('rejects rows it cannot write, and leaves no partial file when aborted', async () => {
    const rejects = await writeAll(f, csvConnector, { path: 'r.csv' }, [{ a: 1 }, 'text', { a: 2, b: 3 }]);
    expect(rejects.map((r) => [r.position, r.reason])).toEqual([
      ['row 2', 'a CSV row must be an object, not a string'],
      ['row 3', "field(s) 'b' not among the CSV columns (a)"],
    ]);
    const parsed = csvConnector.target?.parse({ path: 'aborted.csv' });
    if (!parsed?.ok) throw new Error('expected valid settings');
    const sink = await parsed.bound.open({
      spec: f.spec,
      logger: f.logger,
      services: f.context().services,
      stepPath: 'x',
    });
    await sink.write({ a: 1 }, 'row 1');
    await sink.abort();
    expect(await fs.readdir(f.spec.outDir)).toEqual(['r.csv']);
  });
});
