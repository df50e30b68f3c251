import { decryptSecret, encryptSecret, parseKeyring, secretKeyId } from '@im/config';
import type { FileCatalogPort, JobRequested, Principal } from '@im/contracts';
import { createDb, migrateRollbackAll, type Knex } from '@im/db';
import { silentLogger } from '@im/logging';
import { InProcessEventBus } from '@im/messaging';
import { S3ObjectStorage } from '@im/storage';
import { infraEnv, uniqueName, waitFor } from '@im/testing';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { createJobConfigModule, type JobConfigModule } from './app';
import { jobconfigMigrations } from './jobconfig.migrations';

const admin: Principal = { id: '1', name: 'admin', roles: ['admin'], accountId: '1' };
const owner: Principal = { id: '2', name: 'gu', roles: ['user'], accountId: '1' };
const files: FileCatalogPort = { exists: async () => true, entryPoints: async () => ['main.process'] };
const SECRET = 'pg-S3cr3t-value';
const RUN_SECRET = 'run-request-secret';
const k1 = `k1:${randomBytes(32).toString('base64')}`;
const k2 = `k2:${randomBytes(32).toString('base64')}`;

/**
 * jobconfig on the real PostgreSQL and S3: secure macro values at rest, on job.requests, and withheld
 * from code they were not set for (ADR 0016).
 */
describe('secure macro values on PostgreSQL', () => {
  const schema = uniqueName('jobconfig_secrets');
  let db: Knex;
  let bus: InProcessEventBus;
  let mod: JobConfigModule | undefined;
  const requests: JobRequested[] = [];
  const storage = new S3ObjectStorage({
    ...infraEnv().s3,
    forcePathStyle: true,
    keyPrefix: `${uniqueName('jobconfig-secrets')}/`,
  });

  const start = async (keys: string) => {
    await mod?.stop();
    mod = createJobConfigModule({
      db,
      dbSchema: schema,
      logger: silentLogger(),
      bus,
      storage,
      files,
      authenticate: (_q, _s, n) => n(),
      scheduler: { enabled: false },
      secrets: parseKeyring(keys),
    });
    await mod.migrate();
    await mod.start();
    return mod;
  };

  beforeAll(async () => {
    db = createDb({ client: 'postgres', url: infraEnv().pgUrl, schema, poolMax: 4 });
    bus = new InProcessEventBus(silentLogger());
    await bus.subscribe({
      groupId: 'test',
      topic: 'job.requests',
      handler: async (r) => void requests.push(r),
    });
  });

  afterAll(async () => {
    await mod?.stop();
    await bus.close();
    await migrateRollbackAll(db, jobconfigMigrations, schema);
    await db.raw('drop schema if exists ?? cascade', [schema]);
    await db.destroy();
    await storage.deletePrefix('');
    await storage.close();
  });

  const column = async (id: string) =>
    (
      (await db('job_configs')
        .where({ id: Number(id) })
        .first()) as { macros: string }
    ).macros;

  it('stores secure values encrypted, plain ones as they are, and sends the job request encrypted', async () => {
    const m = await start(k1);
    const { id } = await m.configs.create(admin, { name: 'secrets' });
    const c = await m.configs.replace(admin, id, {
      name: 'secrets',
      runtimeConfig: {
        packageName: 'p.djar',
        entryPoint: 'main.process',
        macros: [
          { key: 'PASSWORD', value: SECRET, secure: true },
          { key: 'CUSTOMER', value: 'ACME', secure: false },
        ],
      },
    });
    await m.macros.create(admin, c.id, { key: 'TOKEN', value: 'macro-route-secret', secure: true });

    const stored = await column(c.id);
    expect(stored).not.toContain(SECRET);
    expect(stored).not.toContain('macro-route-secret');
    expect(stored).toContain('"value":"ACME"');
    const macros = JSON.parse(stored) as { key: string; value: string }[];
    for (const key of ['PASSWORD', 'TOKEN'])
      expect(secretKeyId(macros.find((x) => x.key === key)?.value ?? '')).toBe('k1');

    // The API never returns the value (unchanged behaviour).
    expect((await m.macros.get(admin, c.id, 'PASSWORD')).secure).toBe(true);

    // A PUT of the configuration that leaves the value out keeps it, still encrypted once.
    await m.configs.replace(admin, c.id, {
      name: 'secrets',
      runtimeConfig: {
        packageName: 'p.djar',
        entryPoint: 'main.process',
        macros: [
          { key: 'PASSWORD', secure: true },
          { key: 'CUSTOMER', value: 'ACME', secure: false },
          { key: 'TOKEN', secure: true },
        ],
      },
    });

    const job = await m.jobs.run(admin, c.id, {
      runtimeConfig: { macros: [{ key: 'RUN_ONLY', value: RUN_SECRET, secure: true }] },
    });
    const jobRow = (await db('jobs').where({ id: job.id }).first()) as { run_macros: string };
    expect(jobRow.run_macros).not.toContain(RUN_SECRET);

    // (waitFor takes false for an answer: the probe returns the request or undefined.)
    const req: JobRequested = await waitFor(() => requests.find((r) => r.jobId === job.id), {
      what: "the job's request on job.requests",
    });
    const raw = JSON.stringify(req);
    for (const s of [SECRET, 'macro-route-secret', RUN_SECRET]) expect(raw).not.toContain(s);
    const ring = parseKeyring(k1);
    const byKey = Object.fromEntries(req.macros.map((x) => [x.key, x]));
    expect(byKey.CUSTOMER).toEqual({ key: 'CUSTOMER', value: 'ACME', secure: false });
    expect(byKey.PASSWORD?.value).toMatch(/^enc:v1:k1:/);
    expect(decryptSecret(byKey.PASSWORD?.value ?? '', ring)).toBe(SECRET);
    expect(decryptSecret(byKey.TOKEN?.value ?? '', ring)).toBe('macro-route-secret');
    expect(decryptSecret(byKey.RUN_ONLY?.value ?? '', ring)).toBe(RUN_SECRET);
  });

  it('encrypts legacy plain values at start-up, and moves values to a new first key after a rotation', async () => {
    const m = await start(k1);
    const { id } = await m.configs.create(admin, { name: 'legacy' });
    const c = await m.configs.replace(admin, id, {
      name: 'legacy',
      runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' },
    });
    // As an older release wrote them: plain text, in the configuration and a job's run request.
    await db('job_configs')
      .where({ id: Number(c.id) })
      .update({
        macros: JSON.stringify([
          { key: 'OLD', value: 'legacy-plain-secret', secure: true, description: null },
          { key: 'PLAIN', value: 'visible', secure: false, description: null },
        ]),
      });
    const job = await m.jobs.run(admin, c.id, {});
    await db('jobs')
      .where({ id: job.id })
      .update({ run_macros: JSON.stringify([{ key: 'R', value: 'legacy-run-secret', secure: true }]) });

    await start(k1);
    let stored = await column(c.id);
    expect(stored).not.toContain('legacy-plain-secret');
    expect(stored).toContain('"value":"visible"');
    const jobRow = async () =>
      ((await db('jobs').where({ id: job.id }).first()) as { run_macros: string }).run_macros;
    expect(await jobRow()).not.toContain('legacy-run-secret');
    const old = (JSON.parse(stored) as { key: string; value: string }[]).find((x) => x.key === 'OLD');
    expect(decryptSecret(old?.value ?? '', parseKeyring(k1))).toBe('legacy-plain-secret');

    // Rotation: k2 first, k1 kept; at start-up every value moves to k2.
    await start(`${k2},${k1}`);
    stored = await column(c.id);
    const rotated = (JSON.parse(stored) as { key: string; value: string }[]).find((x) => x.key === 'OLD');
    expect(secretKeyId(rotated?.value ?? '')).toBe('k2');
    expect(decryptSecret(rotated?.value ?? '', parseKeyring(k2))).toBe('legacy-plain-secret');
    const run = (JSON.parse(await jobRow()) as { value: string }[])[0];
    expect(secretKeyId(run?.value ?? '')).toBe('k2');

    // A value under a key that is no longer listed is left alone (logged), the service still starts.
    await db('job_configs')
      .where({ id: Number(c.id) })
      .update({
        macros: JSON.stringify([
          {
            key: 'LOST',
            value: encryptSecret('x', parseKeyring(`k9:${randomBytes(32).toString('base64')}`)),
            secure: true,
            description: null,
          },
        ]),
      });
    const m2 = await start(`${k2},${k1}`);
    expect(secretKeyId((JSON.parse(await column(c.id)) as { value: string }[])[0]?.value ?? '')).toBe('k9');
    // A run still answers as usual (no 5xx): the value travels as stored, for the runner to refuse.
    const lost = await m2.jobs.run(admin, c.id, {});
    const req: JobRequested = await waitFor(() => requests.find((r) => r.jobId === lost.id), {
      what: "the run's request on job.requests",
    });
    expect(secretKeyId(req.macros.find((x) => x.key === 'LOST')?.value ?? '')).toBe('k9');
  });
  it('reads only the jobs submitted since the last complete pass under the same keyring', async () => {
    const m = await start(k1);
    const { id } = await m.configs.create(admin, { name: 'watermark' });
    await m.configs.replace(admin, id, {
      name: 'watermark',
      runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' },
    });
    const plain = (value: string) => JSON.stringify([{ key: 'R', value, secure: true }]);
    const runMacros = async (jobId: string) =>
      ((await db('jobs').where({ id: jobId }).first()) as { run_macros: string }).run_macros;
    const before = await m.jobs.run(admin, id, {});
    await start(k1); // a complete pass: every job so far is covered
    // An older replica (during a rolling upgrade) submits a job with a plain value after that pass.
    const after = await m.jobs.run(admin, id, {});
    await db('jobs')
      .where({ id: after.id })
      .update({ run_macros: plain('from-an-old-replica') });
    // Run macros are never rewritten after submission; this one is, to show it is not read again.
    await db('jobs')
      .where({ id: before.id })
      .update({ run_macros: plain('below-the-watermark') });
    await start(k1);
    expect(await runMacros(after.id)).not.toContain('from-an-old-replica');
    expect(await runMacros(before.id)).toContain('below-the-watermark');
    // A new keyring (a rotation) reads every job again.
    await start(`${k2},${k1}`);
    expect(await runMacros(before.id)).not.toContain('below-the-watermark');
    expect(secretKeyId((JSON.parse(await runMacros(before.id)) as { value: string }[])[0]?.value ?? '')).toBe(
      'k2',
    );
  });

  it("withholds an admin's secure value from a package the owner replaced on S3, until the admin confirms", async () => {
    const m = await start(k1);
    const { id } = await m.configs.create(owner, { name: 'withheld' });
    const upload = (content: string) =>
      storage.put(`configuration/${id}/p.djar`, Readable.from([Buffer.from(content)]));
    await upload('the package the admin saw');
    await m.configs.patch(owner, id, {
      runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' },
    });
    await m.macros.create(admin, id, { key: 'DB_PASSWORD', value: SECRET, secure: true });
    const stored = await column(id);
    expect(stored).toContain('"binding"');
    expect(stored).not.toContain(SECRET);

    await upload('a package that prints the secret in base64');
    const job = await m.jobs.run(owner, id, {});
    expect(job).toMatchObject({ status: 'FAILED', reason: 'secrets-withheld' });
    const row = (await db('jobs').where({ id: job.id }).first()) as { status: string; reason: string };
    expect(row).toMatchObject({ status: 'FAILED', reason: 'secrets-withheld' });
    const log = await storage.get(`jobs/${job.id}/log.txt`);
    expect(await text(log?.body as Readable)).toMatch(/SEVERE \[jobconfig\] secrets-withheld: .*DB_PASSWORD/);

    expect((await m.macros.confirm(admin, id)).confirmed).toEqual(['DB_PASSWORD']);
    const again = await m.jobs.run(owner, id, {});
    const request = await waitFor(() => requests.find((r) => r.jobId === again.id), {
      what: 'the request of the confirmed run',
    });
    const sent = request.macros.find((x) => x.key === 'DB_PASSWORD');
    expect(decryptSecret(sent?.value ?? '', parseKeyring(k1))).toBe(SECRET);
    expect(requests.some((r) => r.jobId === job.id)).toBe(false);
  });
});
