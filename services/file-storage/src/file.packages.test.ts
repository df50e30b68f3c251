import { buildZip, patchCentralDirectory, patchZipNames } from '@im/testing';
import * as fs from 'node:fs';
import * as path from 'node:path';
import request from 'supertest';
import { fileRoutesHarness, type FileRoutesHarness } from './routes.test-support';

/** Uploads and entry-point listings of hostile packages (issue #7): 4xx problem+json, nothing stored. */
describe('package uploads and listings', () => {
  let h: FileRoutesHarness;
  let app: FileRoutesHarness['app'];
  let root: string;

  beforeEach(async () => {
    h = await fileRoutesHarness(1024 * 1024);
    ({ app, root } = h);
  });

  afterEach(() => h.close());

  /** Every file under the storage root, temp files included. */
  const stored = () =>
    fs
      .readdirSync(root, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile())
      .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
      .sort();

  const put = (key: string, body: Buffer) =>
    request(app)
      .put(`/api/jobconfigs/7/files/${encodeURIComponent(key)}`)
      .set('content-type', 'application/octet-stream')
      .send(body);

  it.each([
    ['a text file', Buffer.from('this is not a zip archive, just text')],
    ['an executable', Buffer.concat([Buffer.from('MZ\x90\x00'), Buffer.alloc(64 * 1024, 1)])],
    ['an empty file', Buffer.alloc(0)],
    ['three bytes', Buffer.from('PK\x03')],
  ])('refuses %s uploaded as a .djar with 400 NOT_A_ZIP and stores nothing', async (_what, body) => {
    const before = stored();
    const r = await put('p.djar', body);
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(JSON.parse(r.text)).toMatchObject({
      code: 'NOT_A_ZIP',
      detail: expect.stringMatching(/"p\.djar" is not a zip archive.*nothing was stored/),
    });
    expect(stored()).toEqual(before);
    expect((await request(app).get('/api/jobconfigs/7/files')).body.totalRecords).toBe(0);
  });

  it('refuses a non-zip .djar sent as multipart too, and keeps the previous version', async () => {
    const good = await buildZip({ 'main.process': 'steps: []' });
    expect((await put('p.djar', good)).status).toBe(201);
    const before = stored();
    const r = await request(app)
      .post('/api/jobconfigs/7/files')
      .field('key', 'p.djar')
      .attach('file', Buffer.from('#!/bin/sh\necho not a zip\n'), 'p.djar');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).code).toBe('NOT_A_ZIP');
    expect(stored()).toEqual(before);
    const eps = await request(app).get('/api/jobconfigs/7/files/entrypoints/p.djar');
    expect(eps.body.entryPoints).toEqual(['main.process']);
  });

  it('accepts a zip as .djar, an empty zip, and any bytes under another name', async () => {
    expect((await put('p.djar', await buildZip({ 'a.process': '' }))).status).toBe(201);
    expect((await put('empty.djar', await buildZip({}))).status).toBe(201);
    expect((await put('notes.txt', Buffer.from('plain text'))).status).toBe(201);
  });

  const listing = async (key: string, zip: Buffer) => {
    expect((await put(key, zip)).status).toBe(201);
    const r = await request(app).get(`/api/jobconfigs/7/files/entrypoints/${encodeURIComponent(key)}`);
    return { status: r.status, body: JSON.parse(r.text) as { code?: string; detail?: string } };
  };

  it('refuses to list a package with a zip-slip entry', async () => {
    const zip = patchZipNames(
      await buildZip({ 'a.process': '', 'xx/xx/evil.js': '' }),
      'xx/xx/evil.js',
      '../../evil.js',
    );
    expect(await listing('slip.djar', zip)).toMatchObject({
      status: 400,
      body: { code: 'PACKAGE_UNSAFE', detail: expect.stringMatching(/unsafe entry.*\.\.\/\.\.\/evil\.js/) },
    });
  });

  it('refuses to list a package with an absolute path or a symlink', async () => {
    const abs = patchZipNames(await buildZip({ 'xetc/x.js': '' }), 'xetc/x.js', '/etc/x.js');
    expect((await listing('abs.djar', abs)).body).toMatchObject({ code: 'PACKAGE_UNSAFE' });
    const link = await buildZip([
      { name: 'a.process', content: '' },
      { name: 'l.js', content: '/etc/passwd', mode: 0o120777 },
    ]);
    expect((await listing('link.djar', link)).body).toMatchObject({
      code: 'PACKAGE_UNSAFE',
      detail: expect.stringContaining('symbolic link'),
    });
  });

  it('refuses to list a zip bomb and a package declaring a 2 GiB entry', async () => {
    const bomb = await buildZip([{ name: 'bomb.bin', content: Buffer.alloc(20 * 1024 * 1024) }]);
    expect((await listing('bomb.djar', bomb)).body).toMatchObject({
      code: 'PACKAGE_UNSAFE',
      detail: expect.stringContaining('zip bomb'),
    });
    const huge = patchCentralDirectory(await buildZip({ 'a.process': '', 'big.bin': 'x' }), 'big.bin', {
      uncompressedSize: 2 * 1024 ** 3,
      compressedSize: 1024 ** 3,
    });
    expect((await listing('huge.djar', huge)).body).toMatchObject({
      code: 'PACKAGE_UNSAFE',
      detail: expect.stringContaining('more than the limit of 1073741824 bytes'),
    });
  });
});
