import { jobOutPrefix, packageArchiveKey } from '@im/contracts';
import { LocalObjectStorage } from '@im/storage';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import request from 'supertest';
import { routeHarness, type RouteHarness } from './routes.test-support';

/** GET /api/jobs/{id}/out/files[/{key}]: what a job wrote to its output directory, nested paths too. */
describe('job output files', () => {
  let h: RouteHarness;
  let dir: string;
  let storage: LocalObjectStorage;
  let jobId: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-out-'));
    storage = await LocalObjectStorage.open(dir);
    h = await routeHarness({ storage });
    const c = await request(h.app).post('/api/jobconfigs').send({ name: 'outputs', active: true });
    expect(c.status).toBe(201);
    await request(h.app)
      .patch(`/api/jobconfigs/${c.body.id}`)
      .send({ runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' } })
      .expect(200);
    const run = await request(h.app).post(`/api/jobconfigs/${c.body.id}/jobs`);
    expect(run.status).toBe(202);
    jobId = run.body.id;
    // What a runner uploads when the job ends: its output dir, subdirectories included.
    const put = (key: string, text: string) =>
      storage.put(`${jobOutPrefix(jobId)}${key}`, Readable.from([Buffer.from(text)]));
    await put('summary.json', '{"customers":3}');
    await put('reports/2026/november.csv', 'id,total\n1,10\n');
  });

  afterAll(async () => {
    await h.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('lists every output file by its path, each with a link that downloads it', async () => {
    const list = await request(h.app).get(`/api/jobs/${jobId}/out/files`);
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ totalRecords: 2, pageNumber: 0, links: { prev: null, next: null } });
    const items = list.body.items as { name: string; href: string; metadata: { size: number } }[];
    expect(items.map((i) => i.name).sort()).toEqual(['reports/2026/november.csv', 'summary.json']);
    const nested = items.find((i) => i.name.startsWith('reports/'))!;
    expect(nested.href).toBe(`http://im.test/api/jobs/${jobId}/out/files/reports%2F2026%2Fnovember.csv`);
    expect(nested.metadata.size).toBe(14);

    const got = await request(h.app).get(new URL(nested.href).pathname).buffer(true);
    expect(got.status).toBe(200);
    expect(got.headers['content-disposition']).toContain('november.csv');
    expect(got.body.toString()).toBe('id,total\n1,10\n');
  });

  it('answers 404 for a file the job did not write, and for a path that climbs out, saying why', async () => {
    const missing = await request(h.app).get(`/api/jobs/${jobId}/out/files/nothing.txt`);
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toContain(`GET /api/jobs/${jobId}/out/files`);
    // Path parameters that cannot name anything are 404s like unknown ids, with the rule in the detail.
    for (const bad of ['..%2Fsecret', 'reports%2F..%2F..%2Fx', 'a%2F%2Fb', '%2Fabs', 'a%5Cb']) {
      const r = await request(h.app).get(`/api/jobs/${jobId}/out/files/${bad}`);
      expect({ bad, status: r.status, type: r.headers['content-type'], detail: r.body.detail }).toEqual({
        bad,
        status: 404,
        type: expect.stringContaining('application/problem+json'),
        detail: expect.stringContaining('none of them empty, "." or ".."'),
      });
    }
  });

  it("answers 404 to another user's request for the job's files", async () => {
    const r = await request(h.app).get(`/api/jobs/${jobId}/out/files`).set('x-test-user', 'bob');
    expect(r.status).toBe(404);
  });
  it('answers the exact package a job ran by the sha256 its runner reported; 404 before one started it', async () => {
    const notYet = await request(h.app).get(`/api/jobs/${jobId}/package`);
    expect(notYet.status).toBe(404);
    expect(notYet.body.detail).toContain('has not run a package yet (it is QUEUED)');
    // A runner claims the attempt, keeps the package bytes and reports RUNNING with their sha256.
    const bytes = Buffer.from('PK\u0003\u0004 the package as it ran');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await storage.put(packageArchiveKey(sha256), Readable.from([bytes]));
    const report = (status: 'INITIALIZING' | 'RUNNING', packageSha256?: string) =>
      h.mod.jobs.onProgress({
        jobId,
        attempt: 1,
        status,
        reason: null,
        returnCode: null,
        currentStep: null,
        ...(packageSha256 ? { packageSha256 } : {}),
        runnerId: 'runner-1',
        occurredAt: new Date().toISOString(),
      });
    await report('INITIALIZING');
    await report('RUNNING', sha256);
    const got = await request(h.app).get(`/api/jobs/${jobId}/package`).buffer(true);
    expect(got.status).toBe(200);
    expect(got.headers['x-package-sha256']).toBe(sha256);
    expect(got.headers['content-disposition']).toContain('p.djar');
    expect(Buffer.from(got.body).equals(bytes)).toBe(true);
    // Another user of the account gets what any other of alice's jobs gives them: nothing.
    expect((await request(h.app).get(`/api/jobs/${jobId}/package`).set('x-test-user', 'bob')).status).toBe(
      404,
    );
  });
});
