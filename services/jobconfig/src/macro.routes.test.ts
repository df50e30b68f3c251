import { decryptSecret } from '@im/config';
import type { JobConfigChanged } from '@im/contracts';
import request from 'supertest';
import type { JobConfigModule } from './app';
import { routeHarness, TEST_SECRETS, testUsers as users, type RouteHarness } from './routes.test-support';

describe('macro routes', () => {
  let h: RouteHarness;
  let app: RouteHarness['app'];
  let mod: JobConfigModule;
  let id: string;
  const changes: JobConfigChanged[] = [];

  beforeEach(async () => {
    changes.length = 0;
    h = await routeHarness({
      before: (bus) =>
        bus
          .subscribe({
            groupId: 'test',
            topic: 'jobconfig.changes',
            handler: async (c) => void changes.push(c),
          })
          .then(() => undefined),
    });
    ({ app, mod } = h);
    id = (await mod.configs.create(users.alice, { name: 'alice config' })).id;
  });

  afterEach(() => h.close());

  const base = () => `/api/jobconfigs/${id}/macros`;
  /** A macro as stored, its secure value decrypted (it is stored encrypted: enc:v1:…). */
  const stored = async (key: string) => {
    const m = (await mod.configs.findById(id))?.macros.find((x) => x.key === key);
    if (m?.secure && m.value !== null) expect(m.value).toMatch(/^enc:v1:test:/);
    return m && m.value !== null ? { ...m, value: decryptSecret(m.value, TEST_SECRETS) } : m;
  };

  it('creates macros, lists them and never returns a secure value', async () => {
    const plain = await request(app)
      .post(base())
      .send({ key: 'CUSTOMER', value: 'ACME', description: 'who' })
      .expect(201);
    expect(plain.body).toEqual({
      key: 'CUSTOMER',
      name: 'CUSTOMER',
      href: `http://im.test/api/jobconfigs/${id}/macros/CUSTOMER`,
      value: 'ACME',
      secure: false,
      description: 'who',
    });
    expect(plain.headers.location).toBe(plain.body.href);

    const secret = await request(app)
      .post(base())
      .send({ name: 'PASSWORD', value: 's3cr3t', secure: true })
      .expect(201);
    expect(secret.body).toEqual({
      key: 'PASSWORD',
      name: 'PASSWORD',
      href: `http://im.test/api/jobconfigs/${id}/macros/PASSWORD`,
      secure: true,
      description: null,
    });

    const list = await request(app).get(base()).expect(200);
    expect(list.body).toMatchObject({ totalRecords: 2, totalPages: 1, size: 25, pageNumber: 0 });
    expect(list.body.items.map((m: { key: string }) => m.key)).toEqual(['CUSTOMER', 'PASSWORD']);
    expect(JSON.stringify(list.body)).not.toContain('s3cr3t');
    expect((await request(app).get(`${base()}/PASSWORD`).expect(200)).body).not.toHaveProperty('value');
    const config = await request(app).get(`/api/jobconfigs/${id}`).expect(200);
    expect(JSON.stringify(config.body)).not.toContain('s3cr3t');
    expect(config.body.runtimeConfig.macros).toEqual([
      { key: 'CUSTOMER', value: 'ACME', secure: false, description: 'who' },
      { key: 'PASSWORD', secure: true, description: null },
    ]);
    // Stored for the runner all the same.
    expect(await stored('PASSWORD')).toMatchObject({ value: 's3cr3t', secure: true });
    expect(changes.filter((c) => c.change === 'updated')).toHaveLength(2);
  });

  it('answers 409 for a key that exists, and keeps the stored macro', async () => {
    await request(app).post(base()).send({ key: 'A', value: '1' }).expect(201);
    const res = await request(app).post(base()).send({ key: 'A', value: '2' }).expect(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 409, code: 'CONFLICT' });
    expect(res.body.detail).toContain(`PUT /api/jobconfigs/${id}/macros/A`);
    expect(await stored('A')).toMatchObject({ value: '1' });
  });

  it('reports validation problems with the path of each field', async () => {
    const missing = await request(app).post(base()).send({ value: 'x' }).expect(400);
    expect(missing.body).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ path: 'key', message: 'is required' }],
    });

    const bad = await request(app)
      .post(base())
      .send({ key: '9 lives', value: 42, secure: 'yes', description: 'x'.repeat(2000) })
      .expect(400);
    const paths = (bad.body.errors as { path: string }[]).map((e) => e.path).sort();
    expect(paths).toEqual(['description', 'key', 'secure', 'value']);
    expect(bad.body.errors).toContainEqual({
      path: 'key',
      message: 'must start with a letter or _ and hold letters, digits, _ . - only',
    });

    const alias = await request(app).post(base()).send({ key: 'A', name: 'B' }).expect(400);
    expect(alias.body.errors).toEqual([
      { path: 'name', message: 'must equal key (name is an alias of key)' },
    ]);

    const malformed = await request(app)
      .post(base())
      .set('Content-Type', 'application/json')
      .send('{"key": "A",}')
      .expect(400);
    expect(malformed.body.code).toBe('MALFORMED_JSON');

    const pathMismatch = await request(app).put(`${base()}/A`).send({ key: 'B', value: '1' }).expect(400);
    expect(pathMismatch.body.errors).toEqual([
      { path: 'key', message: 'must be A (the name in the path) or left out' },
    ]);
    const badName = await request(app).put(`${base()}/not%20valid`).send({ value: '1' }).expect(400);
    expect(badName.body.errors[0].path).toBe('name');

    const sort = await request(app).get(`${base()}?sortby=value`).expect(400);
    expect(sort.body.errors).toEqual([{ path: 'sortby', message: 'one of key, name' }]);
    expect(await mod.configs.findById(id)).toMatchObject({ macros: [] });
  });

  it('PUT creates (201) or replaces (200); a secure macro sent without a value keeps its value', async () => {
    const created = await request(app)
      .put(`${base()}/TOKEN`)
      .send({ value: 'tok-1', secure: true, description: 'api token' })
      .expect(201);
    expect(created.headers.location).toBe(`http://im.test/api/jobconfigs/${id}/macros/TOKEN`);
    expect(created.body).toEqual({
      key: 'TOKEN',
      name: 'TOKEN',
      href: created.headers.location,
      secure: true,
      description: 'api token',
    });

    // A client that read the macro sends it back without the value: the secret stays.
    const again = await request(app).put(`${base()}/TOKEN`).send({ secure: true, value: null }).expect(200);
    expect(again.body).toMatchObject({ secure: true, description: 'api token' });
    expect(await stored('TOKEN')).toMatchObject({ value: 'tok-1', secure: true });
    // `secure` left out keeps the flag: a new value stays masked.
    await request(app).put(`${base()}/TOKEN`).send({ value: 'tok-2' }).expect(200);
    expect(await stored('TOKEN')).toMatchObject({ value: 'tok-2', secure: true });

    // Turning it plain without a new value would reveal the secret: refused.
    const reveal = await request(app).put(`${base()}/TOKEN`).send({ secure: false }).expect(400);
    expect(reveal.body.errors).toEqual([
      { path: 'value', message: 'required when a secure macro becomes a plain one' },
    ]);
    const plain = await request(app)
      .put(`${base()}/TOKEN`)
      .send({ secure: false, value: 'public' })
      .expect(200);
    expect(plain.body).toMatchObject({ value: 'public', secure: false });
    expect((await request(app).get(`${base()}/TOKEN`).expect(200)).body.value).toBe('public');
  });

  it("applies the same rule to the configuration's own PUT: a secure macro turned plain needs a value", async () => {
    await request(app).post(base()).send({ key: 'T', value: 'secret', secure: true }).expect(201);
    const res = await request(app)
      .put(`/api/jobconfigs/${id}`)
      .send({ name: 'alice config', runtimeConfig: { macros: [{ key: 'T', secure: false }] } })
      .expect(400);
    expect(res.body.errors).toEqual([
      { path: 'runtimeConfig.macros.0.value', message: 'required when a secure macro becomes a plain one' },
    ]);
    // Sent back as read (secure, no value): the secret stays.
    await request(app)
      .put(`/api/jobconfigs/${id}`)
      .send({ name: 'alice config', runtimeConfig: { macros: [{ key: 'T', secure: true }] } })
      .expect(200);
    expect(await stored('T')).toMatchObject({ value: 'secret', secure: true });
  });

  it('DELETE removes a macro (204); an unknown one is 404', async () => {
    await request(app).post(base()).send({ key: 'A', value: '1' }).expect(201);
    await request(app).post(base()).send({ key: 'B', value: '2' }).expect(201);
    await request(app).delete(`${base()}/A`).expect(204);
    const gone = await request(app).get(`${base()}/A`).expect(404);
    expect(gone.body).toMatchObject({ code: 'NOT_FOUND' });
    expect(gone.body.detail).toContain(`has no macro A`);
    await request(app).delete(`${base()}/A`).expect(404);
    expect((await request(app).get(base()).expect(200)).body.items).toEqual([
      expect.objectContaining({ key: 'B', value: '2' }),
    ]);
  });

  it("hides another user's configuration (404 on every route) and lets an administrator in", async () => {
    await request(app).post(base()).send({ key: 'A', value: '1' }).expect(201);
    const asBob = (r: request.Test) => r.set('X-Test-User', 'bob').expect(404);
    await asBob(request(app).get(base()));
    await asBob(request(app).post(base()).send({ key: 'B', value: '2' }));
    await asBob(request(app).get(`${base()}/A`));
    await asBob(request(app).put(`${base()}/A`).send({ value: 'stolen' }));
    await asBob(request(app).delete(`${base()}/A`));
    await request(app).get('/api/jobconfigs/999/macros').expect(404);
    await request(app).get('/api/jobconfigs/abc/macros/A').expect(404);
    expect(await stored('A')).toMatchObject({ value: '1' });
    expect(await stored('B')).toBeUndefined();

    await request(app).put(`${base()}/A`).set('X-Test-User', 'root').send({ value: 'by admin' }).expect(200);
    const c = await mod.configs.findById(id);
    expect(c?.macros).toEqual([{ key: 'A', value: 'by admin', secure: false, description: null }]);
    expect(c?.updatedBy).toEqual({ id: '3', name: 'root' });
  });

  it('pages and sorts the list', async () => {
    for (const k of ['c', 'a', 'b']) await request(app).post(base()).send({ key: k, value: k }).expect(201);
    const page = await request(app).get(`${base()}?size=2&offset=1&sortby=key&direction=desc`).expect(200);
    expect(page.body).toMatchObject({ totalRecords: 3, totalPages: 2, pageNumber: 1, size: 2 });
    expect(page.body.items.map((m: { key: string }) => m.key)).toEqual(['a']);
    expect(page.body.links.prev).toContain('offset=0');
  });

  it('applies concurrent creates without losing one', async () => {
    const keys = Array.from({ length: 8 }, (_, i) => `K${i}`);
    await Promise.all(keys.map((key) => request(app).post(base()).send({ key, value: key }).expect(201)));
    expect((await mod.configs.findById(id))?.macros.map((m) => m.key).sort()).toEqual(keys);
  });
});
