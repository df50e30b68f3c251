import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createJobFixture, readAll, settingsProblems, writeAll, type JobFixture } from '../job.fixture';
import { httpConnector } from './http.connector';

const PEOPLE = Array.from({ length: 7 }, (_, i) => ({ id: i + 1 }));

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}

let f: JobFixture;
let server: http.Server;
let base: string;
const seen: Seen[] = [];

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
      const u = new URL(req.url ?? '/', base);
      const page = Number(u.searchParams.get('page') ?? '1');
      const size = Number(u.searchParams.get('size') ?? '3');
      switch (u.pathname) {
        case '/linked': {
          // cursor paging: 3 per page, a relative "next" link until the last page
          const from = Number(u.searchParams.get('from') ?? '0');
          const items = PEOPLE.slice(from, from + 3);
          const next = from + 3 < PEOPLE.length ? `/linked?from=${from + 3}` : null;
          reply(res, 200, { data: { items }, links: { next } });
          return;
        }
        case '/numbered':
          reply(res, 200, { results: PEOPLE.slice((page - 1) * size, page * size) });
          return;
        case '/array':
          reply(res, 200, PEOPLE.slice(0, 2));
          return;
        case '/forever':
          reply(res, 200, { items: [{ page }], next: `/forever?page=${page + 1}` });
          return;
        case '/escape':
          reply(res, 200, { items: [], next: 'http://elsewhere.invalid/steal' });
          return;
        case '/broken':
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"items": [');
          return;
        case '/sink': {
          const parsed = JSON.parse(body) as { id?: number } | { id?: number }[];
          const rows = Array.isArray(parsed) ? parsed : [parsed];
          if (rows.some((r) => r.id === 3)) {
            res.writeHead(422, { 'content-type': 'text/plain' }).end('id 3 is not allowed');
            return;
          }
          res.writeHead(204).end();
          return;
        }
        default:
          res.writeHead(404).end('not found');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(async () => {
  seen.length = 0;
  f = await createJobFixture();
});
afterEach(async () => {
  await f.cleanup();
});

const rowsOf = async (settings: Record<string, unknown>) =>
  (await readAll(f, httpConnector, settings)).map((i) => (i.ok ? i.row : i.reason));

describe('http connector: source', () => {
  it('follows next links (relative to the page) with a dotted itemsPath, sending the headers each time', async () => {
    const items = await readAll(f, httpConnector, {
      url: `${base}/linked`,
      headers: { Authorization: 'Bearer t' },
      itemsPath: 'data.items',
      nextPath: 'links.next',
    });
    expect(items.map((i) => (i.ok ? i.row : null))).toEqual(PEOPLE);
    expect(items[3]).toMatchObject({ position: 'page 2 item 1' });
    expect(seen.map((s) => [s.url, s.auth])).toEqual([
      ['/linked', 'Bearer t'],
      ['/linked?from=3', 'Bearer t'],
      ['/linked?from=6', 'Bearer t'],
    ]);
  });

  it('pages by number with a page size until an empty page, with a JSONata itemsPath', async () => {
    expect(
      await rowsOf({
        url: `${base}/numbered?kind=all`,
        itemsPath: 'results[id % 2 = 1]',
        pageParam: 'page',
        pageSize: 3,
        pageSizeParam: 'size',
      }),
    ).toEqual([{ id: 1 }, { id: 3 }, { id: 5 }, { id: 7 }]);
    expect(seen.map((s) => s.url)).toEqual([
      '/numbered?kind=all&page=1&size=3',
      '/numbered?kind=all&page=2&size=3',
      '/numbered?kind=all&page=3&size=3',
      '/numbered?kind=all&page=4&size=3',
    ]);
  });

  it('reads one page that is an array when there is no paging', async () => {
    expect(await rowsOf({ url: `${base}/array` })).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('stops endless paging at maxPages, refuses a next link to another origin, and reports bad pages', async () => {
    await expect(
      rowsOf({ url: `${base}/forever`, itemsPath: 'items', nextPath: 'next', maxPages: 3 }),
    ).rejects.toThrow('more than maxPages (3) pages; raise maxPages if that is expected');
    await expect(rowsOf({ url: `${base}/escape`, itemsPath: 'items', nextPath: 'next' })).rejects.toThrow(
      'page 1: the next page is on another origin (http://elsewhere.invalid); refused, so the headers are not sent there',
    );
    await expect(rowsOf({ url: `${base}/broken` })).rejects.toThrow(
      new RegExp(`^page 1: GET ${base}/broken did not answer JSON: `),
    );
    await expect(rowsOf({ url: `${base}/missing` })).rejects.toThrow(
      `page 1: GET ${base}/missing answered 404 Not Found: not found`,
    );
    await expect(rowsOf({ url: `${base}/linked`, itemsPath: 'links' })).rejects.toThrow(
      "page 1: itemsPath 'links' gives object, not an array (set itemsPath to the array of items)",
    );
  });

  it('refuses paging settings that contradict each other', () => {
    expect(
      settingsProblems(httpConnector, 'source', { url: base, nextPath: 'next', pageParam: 'page' }),
    ).toEqual(['pageParam: use either nextPath or pageParam']);
    expect(settingsProblems(httpConnector, 'source', { url: base, pageSize: 10 })).toEqual([
      'pageSize: only with pageParam',
    ]);
    expect(settingsProblems(httpConnector, 'source', { url: base, itemsPath: 'items[' })).toEqual([
      expect.stringMatching(/^itemsPath: invalid JSONata: /),
    ]);
  });
});

describe('http connector: target', () => {
  it('POSTs each row as JSON; a refused row is rejected with the status', async () => {
    const rejects = await writeAll(
      f,
      httpConnector,
      { url: `${base}/sink`, headers: { Authorization: 'k' } },
      [{ id: 1 }, { id: 3 }, { id: 4 }],
    );
    expect(seen.map((s) => [s.method, s.body, s.auth])).toEqual([
      ['POST', '{"id":1}', 'k'],
      ['POST', '{"id":3}', 'k'],
      ['POST', '{"id":4}', 'k'],
    ]);
    expect(rejects).toEqual([
      {
        row: { id: 3 },
        position: 'row 2',
        reason: `POST ${base}/sink answered 422 Unprocessable Entity: id 3 is not allowed`,
      },
    ]);
  });

  it('sends batches as arrays; a refused batch rejects all its rows, the last batch is sent at close', async () => {
    const rejects = await writeAll(
      f,
      httpConnector,
      { url: `${base}/sink`, method: 'PUT', batchSize: 2 },
      [1, 2, 3, 4, 5].map((id) => ({ id })),
    );
    expect(seen.map((s) => [s.method, s.body])).toEqual([
      ['PUT', '[{"id":1},{"id":2}]'],
      ['PUT', '[{"id":3},{"id":4}]'],
      ['PUT', '[{"id":5}]'],
    ]);
    expect(rejects.map((r) => [r.position, r.reason])).toEqual([
      ['row 3', `PUT ${base}/sink answered 422 Unprocessable Entity: id 3 is not allowed`],
      ['row 4', `PUT ${base}/sink answered 422 Unprocessable Entity: id 3 is not allowed`],
    ]);
  });

  it('rejects rows when the server cannot be reached', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/sink`;
    await new Promise((r) => closed.close(r));
    const rejects = await writeAll(f, httpConnector, { url }, [{ id: 1 }]);
    expect(rejects).toEqual([
      { row: { id: 1 }, position: 'row 1', reason: expect.stringContaining(`POST ${url}: ECONNREFUSED`) },
    ]);
  });

  it('runs in a transform: rows from a file to the server, refused ones in the reject file', async () => {
    await f.write('people.jsonl', '{"id":1}\n{"id":3}\n');
    const r = await f.run(
      [
        'steps:',
        '  - name: push',
        '    type: transform',
        '    source: { connector: jsonl, path: people.jsonl }',
        `    target: { connector: http, url: "${base}/sink" }`,
        '    maxErrors: 1',
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    expect(JSON.parse((await f.readOut('push.rejects.jsonl')) ?? '')).toEqual({
      stage: 'load',
      position: 'line 2',
      reason: `POST ${base}/sink answered 422 Unprocessable Entity: id 3 is not allowed`,
      row: { id: 3 },
    });
  });
});
