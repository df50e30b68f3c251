import { buildSamplePackage, buildZip, waitFor } from '@im/testing';
import { createHash } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { client, type Api } from './http';
import { distributedDriver, standaloneDriver, type PlatformDriver } from './platforms';

/**
 * The quick start of the API contract (sections 1-5) over HTTP, exactly as a client calls it, against
 * the built platform in both of its forms: standalone (one process, embedded adapters) and
 * distributed (one process per service behind the gateway, on PostgreSQL, Kafka and S3). Each is
 * restarted in the middle; its data must survive.
 */
describe.each([
  ['standalone', standaloneDriver],
  ['distributed', distributedDriver],
] as const)('quick start, %s', (_name, makeDriver) => {
  const driver: PlatformDriver = makeDriver();
  const password = driver.adminPassword;
  let api: Api;
  let token: string;
  let configId: string;
  let pkg: Buffer;
  const platform = {
    get url() {
      return driver.url();
    },
  };

  const expectProblem = (
    res: { status: number; headers: Headers; json: any },
    status: number,
    code: string,
  ) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.json).toMatchObject({ status, code, title: expect.any(String), detail: expect.any(String) });
    expect(res.json.detail).not.toMatch(/at .*\.js:\d+/); // never a stack trace
  };

  const waitForStatus = (jobId: string, statuses: string[]) =>
    waitFor(
      async () => {
        const r = await api('GET', `/api/jobs/${jobId}`, { token });
        return statuses.includes(r.json.status) ? r.json : undefined;
      },
      { timeoutMs: 60_000, what: `job ${jobId} to reach ${statuses.join('|')}` },
    );

  const restart = async () => {
    await driver.restart();
    api = client(driver.url());
  };

  beforeAll(async () => {
    pkg = buildSamplePackage();
    await driver.start();
    api = client(driver.url());
  }, 120_000);

  afterAll(async () => {
    await driver.stop();
  });

  it('answers product info without a token', async () => {
    const r = await api('GET', '/api/product/info');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      name: 'integration-manager',
      version: expect.any(String),
      buildDate: expect.any(String),
    });
  });

  it('serves an OpenAPI 3.1 document of the routes and a docs page', async () => {
    const doc = await api('GET', '/api/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.json.openapi).toBe('3.1.0');
    for (const p of [
      '/login',
      '/jobconfigs',
      '/jobconfigs/{id}',
      '/jobconfigs/{id}/files',
      '/jobconfigs/{id}/jobs',
      '/jobs/{id}',
      '/jobs/{id}/log',
    ]) {
      expect(Object.keys(doc.json.paths)).toContain(p);
    }
    const page = await api('GET', '/api/docs');
    expect(page.status).toBe(200);
    expect(page.text).toContain('swagger-ui');
    expect((await api('GET', '/api/docs/assets/swagger-ui-bundle.js')).status).toBe(200);
  });

  it('1. logs in, and refuses bad credentials and malformed bodies', async () => {
    expectProblem(
      await api('POST', '/api/login', { json: { username: 'admin', password: 'wrong-password' } }),
      401,
      'BAD_CREDENTIALS',
    );
    const unknown = await api('POST', '/api/login', {
      json: { username: 'nobody', password: 'wrong-password' },
    });
    expectProblem(unknown, 401, 'BAD_CREDENTIALS');
    expectProblem(await api('POST', '/api/login', { json: { username: 'admin' } }), 400, 'VALIDATION_FAILED');

    const r = await api('POST', '/api/login', { json: { username: 'admin', password } });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      access_token: expect.any(String),
      token_type: 'bearer',
      refresh_token: expect.any(String),
      expires_in: expect.any(Number),
    });
    token = r.json.access_token;
  });

  it('refuses missing, forged and expired tokens with 401', async () => {
    expectProblem(await api('GET', '/api/jobconfigs'), 401, 'UNAUTHENTICATED');
    const [h, p] = token.split('.');
    const forgedPayload = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(p!, 'base64url').toString()),
        roles: ['admin'],
        sub: '999',
      }),
    ).toString('base64url');
    expectProblem(
      await api('GET', '/api/jobconfigs', { token: `${h}.${forgedPayload}.${token.split('.')[2]}` }),
      401,
      'UNAUTHENTICATED',
    );
    const key = driver.privateKeyPem();
    const expired = jwt.sign({ name: 'admin', roles: ['admin'] }, key, {
      algorithm: 'RS256',
      subject: '1',
      issuer: 'integration-manager',
      audience: 'integration-manager-api',
      // Past the 30 s clock tolerance the services allow.
      expiresIn: -120,
    });
    const r = await api('GET', '/api/jobconfigs', { token: expired });
    expectProblem(r, 401, 'UNAUTHENTICATED');
    expect(r.json.detail).toMatch(/expired/);
  });

  it('2. creates a job configuration', async () => {
    expectProblem(
      await api('POST', '/api/jobconfigs', { token, json: { active: true } }),
      400,
      'VALIDATION_FAILED',
    );
    const r = await api('POST', '/api/jobconfigs', {
      token,
      json: { active: true, name: 'sample config', description: 'from the quick start' },
    });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({
      id: expect.stringMatching(/^\d+$/),
      active: true,
      name: 'sample config',
      description: 'from the quick start',
      href: `${platform.url}/api/jobconfigs/${r.json.id}`,
      user: { id: '1', name: 'admin', href: `${platform.url}/api/users/1` },
      createdByUser: { id: '1', name: 'admin' },
      lastModifiedByUser: { id: '1', name: 'admin' },
    });
    expect(new Date(r.json.created).toISOString()).toBe(r.json.created);
    configId = r.json.id;
  });

  it('3. uploads the package as multipart (key + file) and as octet-stream', async () => {
    const form = new FormData();
    form.append('key', 'samplePackage.djar');
    form.append('file', new Blob([pkg]), 'samplePackage.djar');
    const r = await api('POST', `/api/jobconfigs/${configId}/files`, { token, body: form });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({
      name: 'samplePackage.djar',
      href: `${platform.url}/api/jobconfigs/${configId}/files/samplePackage.djar`,
      metadata: {
        size: pkg.length,
        lastModified: expect.any(String),
        contentType: expect.any(String),
        sha256: createHash('sha256').update(pkg).digest('hex'),
      },
    });

    const raw = await api('POST', `/api/jobconfigs/${configId}/files?key=notes.txt`, {
      token,
      body: 'hello',
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(raw.status).toBe(201);
    expect(raw.json.metadata.size).toBe(5);

    const list = await api('GET', `/api/jobconfigs/${configId}/files`, { token });
    expect(list.json).toMatchObject({
      totalRecords: 2,
      totalPages: 1,
      pageNumber: 0,
      items: [{ name: 'notes.txt' }, { name: 'samplePackage.djar' }],
    });

    const download = await fetch(`${platform.url}/api/jobconfigs/${configId}/files/samplePackage.djar`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-length')).toBe(String(pkg.length));
    expect(download.headers.get('etag')).toBeTruthy();
    expect(Buffer.from(await download.arrayBuffer()).equals(pkg)).toBe(true);
  });

  it('refuses unsafe file names and changes nothing', async () => {
    for (const key of ['..', 'a\u0001b', 'x'.repeat(256)]) {
      const r = await api('POST', `/api/jobconfigs/${configId}/files?key=${encodeURIComponent(key)}`, {
        token,
        body: 'x',
        headers: { 'content-type': 'application/octet-stream' },
      });
      expectProblem(r, 400, 'INVALID_FILE_NAME');
    }
    const noKey = await api('POST', `/api/jobconfigs/${configId}/files`, {
      token,
      body: 'x',
      headers: { 'content-type': 'application/octet-stream' },
    });
    expectProblem(noKey, 400, 'VALIDATION_FAILED');
    const list = await api('GET', `/api/jobconfigs/${configId}/files`, { token });
    expect(list.json.totalRecords).toBe(2);
  });

  it('keeps configurations and files across a restart', async () => {
    await restart();
    const c = await api('GET', `/api/jobconfigs/${configId}`, { token });
    expect(c.status).toBe(200);
    expect(c.json.name).toBe('sample config');
    const f = await api('GET', `/api/jobconfigs/${configId}/files`, { token });
    expect(f.json.items.map((i: { name: string }) => i.name)).toEqual(['notes.txt', 'samplePackage.djar']);
  });

  it("4. reads the tutorial's body (multipart content type, missing comma) with a 400 naming line and column", async () => {
    const tutorialBody = `{
  "active": true,
  "name": "sample config",
  "description": "sample config description"
  "runtimeConfig": { "packageName": "samplePackage.djar", "entryPoint": "integrateXYZ.process" }
}`;
    const bad = await api('PUT', `/api/jobconfigs/${configId}`, {
      token,
      body: tutorialBody,
      headers: { 'content-type': 'multipart/form-data' },
    });
    expectProblem(bad, 400, 'MALFORMED_JSON');
    expect(bad.json.detail).toMatch(/line 5, column 3/);
    const unchanged = await api('GET', `/api/jobconfigs/${configId}`, { token });
    expect(unchanged.json.runtimeConfig.packageName).toBeNull();
  });

  it('4. refuses a package that is not attached and an entry point that is not in the package', async () => {
    const notAttached = await api('PUT', `/api/jobconfigs/${configId}`, {
      token,
      json: {
        name: 'sample config',
        runtimeConfig: { packageName: 'other.djar', entryPoint: 'integrateXYZ.process' },
      },
    });
    expectProblem(notAttached, 400, 'PACKAGE_NOT_ATTACHED');
    expect(notAttached.json.errors).toEqual([
      { path: 'runtimeConfig.packageName', message: expect.any(String) },
    ]);
    const noEntry = await api('PUT', `/api/jobconfigs/${configId}`, {
      token,
      json: {
        name: 'sample config',
        runtimeConfig: { packageName: 'samplePackage.djar', entryPoint: 'missing.process' },
      },
    });
    expectProblem(noEntry, 400, 'ENTRY_POINT_NOT_FOUND');
    const notZip = await api('GET', `/api/jobconfigs/${configId}/files/entrypoints/notes.txt`, { token });
    expectProblem(notZip, 400, 'PACKAGE_UNREADABLE');
  });

  it('4. points the configuration at the package (JSON sent as multipart/form-data) and lists entry points', async () => {
    const body = JSON.stringify({
      active: true,
      name: 'sample config',
      description: 'sample config description',
      runtimeConfig: { packageName: 'samplePackage.djar', entryPoint: 'integrateXYZ.process' },
    });
    const r = await api('PUT', `/api/jobconfigs/${configId}`, {
      token,
      body,
      headers: { 'content-type': 'multipart/form-data' },
    });
    expect(r.status).toBe(200);
    expect(r.json.runtimeConfig).toMatchObject({
      packageName: 'samplePackage.djar',
      entryPoint: 'integrateXYZ.process',
      packagePrefix: `configuration/${configId}`,
      packageArtifactOverride: false,
    });
    const eps = await api('GET', `/api/jobconfigs/${configId}/package/entrypoints`, { token });
    expect(eps.json).toEqual({
      packageName: 'samplePackage.djar',
      entryPoints: ['hello.mjs', 'integrateXYZ.process', 'scripts/summarize.mjs'],
    });
    const byKey = await api('GET', `/api/jobconfigs/${configId}/files/entrypoints/samplePackage.djar`, {
      token,
    });
    expect(byKey.json).toEqual(eps.json);
  });

  let jobId: string;

  it('5. runs the configuration; the job ends FINISHED and its log is readable', async () => {
    const r = await api('POST', `/api/jobconfigs/${configId}/jobs`, { token });
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({
      href: `${platform.url}/api/jobs/${r.json.id}`,
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      scheduled: expect.any(String),
      status: 'QUEUED',
      finalDestinationId: '1',
      jobConfig: { id: configId, name: 'sample config', href: `${platform.url}/api/jobconfigs/${configId}` },
      submittedByUser: { id: '1', name: 'admin', href: `${platform.url}/api/users/1` },
    });
    jobId = r.json.id;
    const job = await waitForStatus(jobId, ['FINISHED', 'ERROR', 'FAILED']);
    expect(job).toMatchObject({
      status: 'FINISHED',
      returnCode: 0,
      attempt: 1,
      packageName: 'samplePackage.djar',
      entryPoint: 'integrateXYZ.process',
    });
    expect(Date.parse(job.finished)).toBeGreaterThanOrEqual(Date.parse(job.started));
    expect(job.duration).toBe(Date.parse(job.finished) - Date.parse(job.started));

    const log = await api('GET', `/api/jobs/${jobId}/log`, { token });
    expect(log.status).toBe(200);
    expect(log.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(log.text).toContain(`starting job ${jobId} of configuration ${configId}`);
    expect(log.text).toContain('read 3 customers (2 active)');

    const out = await api('GET', `/api/jobs/${jobId}/out/files`, { token });
    expect(out.json.items.map((i: { name: string }) => i.name)).toEqual(['summary.json']);
    const summary = await api('GET', `/api/jobs/${jobId}/out/files/summary.json`, { token });
    expect(JSON.parse(summary.text)).toEqual({ jobId, customers: 3, active: 2 });

    // The exact package the job ran: kept by its runner, the same bytes as uploaded.
    const ran = await fetch(`${platform.url}/api/jobs/${jobId}/package`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ran.status).toBe(200);
    expect(ran.headers.get('content-disposition')).toContain('samplePackage.djar');
    expect(ran.headers.get('x-package-sha256')).toBe(createHash('sha256').update(pkg).digest('hex'));
    expect(Buffer.from(await ran.arrayBuffer()).equals(pkg)).toBe(true);
  });

  it('lists jobs with paging and filters', async () => {
    const all = await api('GET', `/api/jobs?size=1&offset=0`, { token });
    expect(all.json).toMatchObject({
      totalRecords: 1,
      totalPages: 1,
      size: 1,
      pageNumber: 0,
      links: { prev: null, next: null },
    });
    expect(all.json.items[0].id).toBe(jobId);
    const byConfig = await api('GET', `/api/jobconfigs/${configId}/jobs?status=FINISHED`, { token });
    expect(byConfig.json.items.map((j: { id: string }) => j.id)).toEqual([jobId]);
    const none = await api('GET', `/api/jobs?status=RUNNING`, { token });
    expect(none.json.totalRecords).toBe(0);
    expectProblem(await api('GET', `/api/jobs?status=DONE`, { token }), 400, 'VALIDATION_FAILED');
    expectProblem(await api('GET', `/api/jobs?size=501`, { token }), 400, 'VALIDATION_FAILED');
  });

  it('keeps jobs and logs across a restart', async () => {
    await restart();
    const job = await api('GET', `/api/jobs/${jobId}`, { token });
    expect(job.json.status).toBe('FINISHED');
    const log = await api('GET', `/api/jobs/${jobId}/log`, { token });
    expect(log.text).toContain(`starting job ${jobId}`);
  });

  it('answers 404 for unknown ids', async () => {
    expectProblem(await api('GET', '/api/jobconfigs/999999', { token }), 404, 'NOT_FOUND');
    expectProblem(await api('GET', '/api/jobconfigs/abc', { token }), 404, 'NOT_FOUND');
    expectProblem(
      await api('GET', '/api/jobs/7d4f3b4e-0c4a-4d7e-9a7a-3f0f0f0f0f0f', { token }),
      404,
      'NOT_FOUND',
    );
    expectProblem(
      await api('GET', `/api/jobconfigs/${configId}/files/nothing.djar`, { token }),
      404,
      'NOT_FOUND',
    );
    expectProblem(await api('GET', '/api/nothing-here', { token }), 404, 'NOT_FOUND');
  });

  it('refuses to run an inactive configuration or one without a package', async () => {
    const bare = await api('POST', '/api/jobconfigs', { token, json: { name: 'bare' } });
    expectProblem(await api('POST', `/api/jobconfigs/${bare.json.id}/jobs`, { token }), 400, 'NOT_RUNNABLE');
    await api('PATCH', `/api/jobconfigs/${bare.json.id}`, { token, json: { active: false } });
    expectProblem(
      await api('POST', `/api/jobconfigs/${bare.json.id}/jobs`, { token }),
      409,
      'CONFIG_INACTIVE',
    );
    expect((await api('DELETE', `/api/jobconfigs/${bare.json.id}`, { token })).status).toBe(204);
  });

  it("hides another user's configuration and jobs", async () => {
    const bob = await api('POST', '/api/users', {
      token,
      json: { name: 'bob', password: 'river-stone-4821' },
    });
    expect(bob.status).toBe(201);
    const login = await api('POST', '/api/login', {
      json: { username: 'bob', password: 'river-stone-4821' },
    });
    const bobToken = login.json.access_token as string;
    expectProblem(await api('GET', `/api/jobconfigs/${configId}`, { token: bobToken }), 404, 'NOT_FOUND');
    expectProblem(
      await api('GET', `/api/jobconfigs/${configId}/files`, { token: bobToken }),
      404,
      'NOT_FOUND',
    );
    expectProblem(
      await api('POST', `/api/jobconfigs/${configId}/jobs`, { token: bobToken }),
      404,
      'NOT_FOUND',
    );
    expectProblem(await api('GET', `/api/jobs/${jobId}`, { token: bobToken }), 404, 'NOT_FOUND');
    expect((await api('GET', '/api/jobconfigs', { token: bobToken })).json.totalRecords).toBe(0);
    expectProblem(await api('GET', '/api/users', { token: bobToken }), 403, 'FORBIDDEN');
  });

  it('stops a running job on DELETE (FAILED, stoppedByUser) and refuses to delete its configuration meanwhile', async () => {
    const slow = await buildZip({
      'slow.mjs': `export default async function ({ logger }) { logger.info('slow job started'); await new Promise((r) => setTimeout(r, 120000)); }`,
    });
    const c = await api('POST', '/api/jobconfigs', { token, json: { name: 'slow' } });
    await api('POST', `/api/jobconfigs/${c.json.id}/files?key=slow.djar`, {
      token,
      body: slow,
      headers: { 'content-type': 'application/octet-stream' },
    });
    await api('PATCH', `/api/jobconfigs/${c.json.id}`, {
      token,
      json: { runtimeConfig: { packageName: 'slow.djar', entryPoint: 'slow.mjs' } },
    });
    const run = await api('POST', `/api/jobconfigs/${c.json.id}/jobs`, { token });
    await waitFor(
      async () =>
        (await api('GET', `/api/jobs/${run.json.id}/log`, { token })).text.includes('slow job started')
          ? true
          : undefined,
      { what: 'the slow job to start' },
    );
    expectProblem(
      await api('DELETE', `/api/jobconfigs/${c.json.id}`, { token }),
      409,
      'CONFIG_HAS_UNFINISHED_JOBS',
    );
    expect((await api('DELETE', `/api/jobs/${run.json.id}`, { token })).status).toBe(202);
    const stopped = await waitForStatus(run.json.id, ['FINISHED', 'ERROR', 'FAILED']);
    expect(stopped).toMatchObject({
      status: 'FAILED',
      reason: 'stopped-by-user',
      stoppedByUser: { id: '1', name: 'admin' },
    });
    expect((await api('DELETE', `/api/jobconfigs/${c.json.id}`, { token })).status).toBe(204);
  });
});
