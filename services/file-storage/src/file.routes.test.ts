import { buildZip } from '@im/testing';
import * as fs from 'node:fs';
import * as path from 'node:path';
import request from 'supertest';
import { fileRoutesHarness, type FileRoutesHarness } from './routes.test-support';

describe('file routes', () => {
  let h: FileRoutesHarness;
  let app: FileRoutesHarness['app'];
  let root: string;

  beforeEach(async () => {
    h = await fileRoutesHarness(1024);
    ({ app, root } = h);
  });

  afterEach(() => h.close());

  const objects = () =>
    fs
      .readdirSync(path.join(root, 'configuration', '7'), { withFileTypes: true })
      .filter((e) => e.isFile() && !e.name.endsWith('.meta.json'))
      .map((e) => e.name);

  it('stores a multipart upload under the key field and replaces it on a second upload', async () => {
    const first = await request(app)
      .post('/api/jobconfigs/7/files')
      .field('key', 'a.txt')
      .attach('file', Buffer.from('one'), 'ignored.txt');
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ name: 'a.txt', metadata: { size: 3 } });
    const second = await request(app)
      .post('/api/jobconfigs/7/files')
      .field('key', 'a.txt')
      .attach('file', Buffer.from('two!'), 'x');
    expect(second.status).toBe(200);
    const got = await request(app)
      .get('/api/jobconfigs/7/files/a.txt')
      .buffer(true)
      .parse((res, cb) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    expect((got.body as Buffer).toString()).toBe('two!');
    expect(got.headers['content-length']).toBe('4');
    expect(got.headers.etag).toBe(`"${second.body.metadata.sha256}"`);
    const notModified = await request(app)
      .get('/api/jobconfigs/7/files/a.txt')
      .set('if-none-match', got.headers.etag!);
    expect(notModified.status).toBe(304);
  });

  it("uses the part's filename when there is no key field", async () => {
    const r = await request(app)
      .post('/api/jobconfigs/7/files')
      .attach('file', Buffer.from('x'), 'named.bin');
    expect(r.status).toBe(201);
    expect(r.body.name).toBe('named.bin');
  });

  it('refuses an upload over the limit with 413 and keeps nothing of it', async () => {
    const r = await request(app)
      .post('/api/jobconfigs/7/files?key=big.bin')
      .set('content-type', 'application/octet-stream')
      .send(Buffer.alloc(4096));
    expect(r.status).toBe(413);
    expect(JSON.parse(r.text).code).toBe('PAYLOAD_TOO_LARGE');
    expect((await request(app).get('/api/jobconfigs/7/files')).body.totalRecords).toBe(0);
    expect(fs.readdirSync(path.join(root, '.tmp'))).toEqual([]);
  });

  it('answers an unknown sort field with a 400 naming the sortable fields (found by schemathesis: was a 500)', async () => {
    const r = await request(app).get('/api/jobconfigs/7/files').query({ sortby: 'name,\u00c7\u00f9X' });
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(r.body).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ path: 'sortby', message: 'one of name, size, lastModified, created' }],
    });
  });

  it('refuses a multipart body without a file', async () => {
    const r = await request(app).post('/api/jobconfigs/7/files').field('key', 'a.txt');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).errors).toEqual([{ path: 'file', message: 'required' }]);
  });

  it('answers 404 for another configuration and changes nothing', async () => {
    const r = await request(app)
      .post('/api/jobconfigs/8/files?key=a.txt')
      .set('content-type', 'application/octet-stream')
      .send('x');
    expect(r.status).toBe(404);
    expect(fs.existsSync(path.join(root, 'configuration', '8'))).toBe(false);
  });

  it('lists entry points of a package and refuses what is not a zip', async () => {
    const zip = await buildZip({ 'a.process': 'steps: []', 'b/c.mjs': '', 'data.csv': '' });
    await request(app)
      .put('/api/jobconfigs/7/files/p.djar')
      .set('content-type', 'application/octet-stream')
      .send(zip);
    const eps = await request(app).get('/api/jobconfigs/7/files/entrypoints/p.djar');
    expect(eps.body).toEqual({ packageName: 'p.djar', entryPoints: ['a.process', 'b/c.mjs'] });
    await request(app)
      .put('/api/jobconfigs/7/files/t.txt')
      .set('content-type', 'text/plain')
      .send('not a zip');
    expect((await request(app).get('/api/jobconfigs/7/files/entrypoints/t.txt')).status).toBe(400);
  });

  it('deletes a file, and all files of a configuration when it is deleted', async () => {
    await request(app).put('/api/jobconfigs/7/files/a.txt').set('content-type', 'text/plain').send('a');
    await request(app).put('/api/jobconfigs/7/files/b.txt').set('content-type', 'text/plain').send('b');
    expect((await request(app).delete('/api/jobconfigs/7/files/a.txt')).status).toBe(204);
    expect((await request(app).delete('/api/jobconfigs/7/files/a.txt')).status).toBe(404);
    expect(objects()).toEqual(['b.txt']);
  });
});
