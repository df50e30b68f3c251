import { silentLogger } from '@im/logging';
import type { RequestHandler } from 'express';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import request from 'supertest';
import { createApp } from './app';

const deny: RequestHandler = (_req, res) => {
  res.status(401).json({ code: 'UNAUTHENTICATED' });
};

function gateway(consoleDir: string) {
  return createApp({
    logger: silentLogger(),
    info: { name: 'integration-manager', version: '1', buildDate: '2026-11-28T00:00:00.000Z' },
    readiness: { ready: () => true },
    authenticate: deny,
    upstreams: [],
    consoleDir,
  });
}

describe('the web console at /ui', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-console-'));
    fs.mkdirSync(path.join(dir, 'assets'));
    fs.writeFileSync(
      path.join(dir, 'index.html'),
      '<!doctype html><script type="module" src="/ui/assets/app-1.js"></script><div id="root"></div>',
    );
    fs.writeFileSync(path.join(dir, 'assets', 'app-1.js'), 'console.log(1);');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('serves index.html with a CSP that allows only this origin, without a token', async () => {
    const r = await request(gateway(dir)).get('/ui/');
    expect(r.status).toBe(200);
    expect(r.text).toContain('id="root"');
    const csp = r.headers['content-security-policy'];
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(r.headers['cache-control']).toBe('no-cache');
  });

  it('answers every other /ui/* path with index.html (the app routes in the browser)', async () => {
    const r = await request(gateway(dir)).get('/ui/configs/12');
    expect(r.status).toBe(200);
    expect(r.text).toContain('id="root"');
  });

  it('redirects /ui to /ui/', async () => {
    const r = await request(gateway(dir)).get('/ui');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('/ui/');
  });

  it('serves hashed assets for long and a missing asset as 404, not as the page', async () => {
    const app = gateway(dir);
    const a = await request(app).get('/ui/assets/app-1.js');
    expect(a.status).toBe(200);
    expect(a.headers['cache-control']).toMatch(/immutable/);
    expect((await request(app).get('/ui/assets/missing.js')).status).toBe(404);
  });

  it('leaves the API its own strict policy', async () => {
    const r = await request(gateway(dir)).get('/api/product/info');
    expect(r.headers['content-security-policy']).toContain("default-src 'none'");
  });

  it('says so when the console is not built', async () => {
    const r = await request(gateway(path.join(dir, 'nope'))).get('/ui/');
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/not built/);
  });
});
