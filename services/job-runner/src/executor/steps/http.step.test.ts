import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createJobFixture, type JobFixture } from '../job.fixture';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let f: JobFixture;
let server: http.Server;
let base: string;
const seen: Seen[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const pathname = new URL(req.url ?? '/', 'http://x').pathname;
      if (pathname === '/report') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ rows: 3, auth: req.headers.authorization ?? null }));
      } else if (pathname === '/created') {
        res.writeHead(201).end();
      } else if (pathname === '/moved') {
        res.writeHead(302, { location: 'http://elsewhere.invalid/x' }).end();
      } else if (pathname === '/slow') {
        // answers headers, never the body: the step's timeout must end it
        res.writeHead(200);
        res.write('partial');
      } else {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('database is down');
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
  f = await createJobFixture({ macros: { TOKEN: 'tok-123' } });
});
afterEach(async () => {
  await f.cleanup();
});

describe('http step', () => {
  it('sends one request with headers from macros and saves the answer to a file', async () => {
    const r = await f.run(
      [
        'steps:',
        '  - name: fetch',
        '    type: http',
        `    url: "${base}/report?key=secret"`,
        '    headers: { Authorization: "Bearer $(TOKEN)" }',
        '    saveTo: reports/report.json',
        '  - name: after',
        '    type: log',
        '    message: ok',
        '    when: "steps.fetch.httpStatus = 200"',
      ].join('\n'),
    );
    expect(f.lines.filter((l) => l.startsWith('SEVERE'))).toEqual([]);
    expect(r.ok).toBe(true);
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/report?key=secret' });
    expect(JSON.parse((await f.readOut('reports/report.json')) ?? '')).toEqual({
      rows: 3,
      auth: 'Bearer tok-123',
    });
    expect(f.lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^INFO \\[step:fetch\\] GET ${base}/report\\?… → 200 in \\d+ ms, 34 byte\\(s\\) saved to reports/report\\.json$`,
        ),
      ),
    );
    expect(f.lines).toContain('INFO [step:after] ok');
    expect(f.lines.join('\n')).not.toContain('secret');
  });

  it('sends a JSON body or a file of the package, and checks the expected status', async () => {
    await f.write('payload.xml', '<a>1</a>');
    const r = await f.run(
      [
        'steps:',
        '  - name: json',
        '    type: http',
        '    method: POST',
        `    url: "${base}/created"`,
        '    body: { id: 1, tags: [a, b] }',
        '    expectStatus: 201',
        '  - name: file',
        '    type: http',
        '    method: PUT',
        `    url: "${base}/created"`,
        '    headers: { Content-Type: application/xml }',
        '    bodyFile: payload.xml',
        '    expectStatus: [200, 201]',
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    expect(seen.map((s) => [s.method, s.body, s.headers['content-type']])).toEqual([
      ['POST', '{"id":1,"tags":["a","b"]}', 'application/json'],
      ['PUT', '<a>1</a>', 'application/xml'],
    ]);
  });

  it('fails on an unexpected status with the start of the body, and does not follow redirects', async () => {
    const r = await f.run(
      `steps:\n  - name: down\n    type: http\n    url: "${base}/fails"\n    onError: continue\n  - name: moved\n    type: http\n    url: "${base}/moved"\n`,
    );
    expect(r.ok).toBe(false);
    expect(f.lines).toContain(
      `WARNING [executor] step 'down' failed (onError: continue, going on): GET ${base}/fails answered 500 Internal Server Error: database is down (expected 2xx)`,
    );
    expect(f.lines).toContain(
      `SEVERE [executor] step 'moved' failed: GET ${base}/moved answered 302 Found (a redirect to http://elsewhere.invalid/x; redirects are not followed, use the final URL) (expected 2xx)`,
    );
  });

  it('times out', async () => {
    const r = await f.run(
      `steps:\n  - name: slow\n    type: http\n    url: "${base}/slow"\n    timeoutSeconds: 0.3\n`,
    );
    expect(r.ok).toBe(false);
    expect(f.lines).toContainEqual(
      expect.stringMatching(
        /^SEVERE \[executor\] step 'slow' failed: GET .*\/slow: reading the answer failed: no complete answer within 0\.3 s$/,
      ),
    );
  });

  it('reports a connection that is refused', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = await f.run(`steps:\n  - name: gone\n    type: http\n    url: "http://127.0.0.1:${port}/x"\n`);
    expect(r.ok).toBe(false);
    expect(f.lines).toContainEqual(
      expect.stringContaining(`step 'gone' failed: GET http://127.0.0.1:${port}/x: ECONNREFUSED`),
    );
  });
});
