import { decryptSecret, generateKeyringEntry, parseKeyring } from '@im/config';
import {
  jobLogKey,
  type FileCatalogPort,
  type JobRequested,
  type JobStatusEvent,
  type Principal,
} from '@im/contracts';
import type { Knex } from '@im/db';
import { waitFor } from '@im/testing';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { JobConfigModule } from './app';
import { moduleHarness, type ModuleHarness } from './routes.test-support';
import { bindSecureValues, isWithheld, type MacroBinding, type PackageState } from './secret-binding';

const secrets = parseKeyring(generateKeyringEntry('test'));
const admin: Principal = { id: '1', name: 'admin', roles: ['admin'], accountId: '1' };
const owner: Principal = { id: '2', name: 'gu', roles: ['user'], accountId: '1' };
const SECRET = 'db-Passw0rd-of-the-admin';

const files: FileCatalogPort = {
  exists: async () => true,
  entryPoints: async () => ['main.process', 'other.process'],
};

/**
 * Issue #13 item 6 (ADR 0016): a secure value an administrator set on a General User's configuration
 * goes only to the code it was set for; the owner changing the package file or the entry point makes
 * runs fail `secrets-withheld` before any request leaves, until the administrator confirms.
 */
describe('secure values withheld from changed code', () => {
  let h: ModuleHarness;
  let db: Knex;
  let mod: JobConfigModule;
  const requests: JobRequested[] = [];
  const events: JobStatusEvent[] = [];

  const upload = (id: string, name: string, content: string) =>
    h.storage.put(`configuration/${id}/${name}`, Readable.from([Buffer.from(content)]));

  beforeEach(async () => {
    requests.length = 0;
    events.length = 0;
    h = await moduleHarness({
      files,
      secrets,
      before: async (bus) => {
        await bus.subscribe({
          groupId: 'r',
          topic: 'job.requests',
          handler: async (r) => void requests.push(r),
        });
        await bus.subscribe({ groupId: 's', topic: 'job.status', handler: async (e) => void events.push(e) });
      },
    });
    ({ db, mod } = h);
  });

  afterEach(() => h.close());

  /** The owner's configuration running p.djar, with the admin's secure macro set on it. */
  const configured = async () => {
    const c = await mod.configs.create(owner, { name: 'gu config' });
    await upload(c.id, 'p.djar', 'the reviewed package');
    await mod.configs.patch(owner, c.id, {
      runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' },
    });
    await mod.macros.create(admin, c.id, { key: 'DB_PASSWORD', value: SECRET, secure: true });
    return c.id;
  };

  const requestOf = (jobId: string) =>
    waitFor(() => requests.find((r) => r.jobId === jobId), { what: `the request of ${jobId}` });
  const secretIn = (r: JobRequested) =>
    r.macros.filter((m) => m.secure).map((m) => decryptSecret(m.value, secrets));
  const statusesOf = (jobId: string) =>
    events.filter((e) => e.data.jobId === jobId).map((e) => e.data.status);

  it('sends the value while the configuration runs the code it was set for', async () => {
    const id = await configured();
    const job = await mod.jobs.run(owner, id, {});
    expect(secretIn(await requestOf(job.id))).toEqual([SECRET]);
  });

  it('withholds it once the owner replaces the package file, and sends it again once an admin confirms', async () => {
    const id = await configured();
    await upload(id, 'p.djar', 'a package that prints $(DB_PASSWORD) base64-encoded');
    const job = await mod.jobs.run(owner, id, {});
    expect(job).toMatchObject({ status: 'FAILED', reason: 'secrets-withheld' });
    await waitFor(() => (statusesOf(job.id).length === 3 ? true : undefined), { what: 'three events' });
    expect(statusesOf(job.id)).toEqual(['QUEUED', 'INITIALIZING', 'FAILED']);
    expect(requests.filter((r) => r.jobId === job.id)).toEqual([]);
    const log = await h.storage.get(jobLogKey(job.id));
    const logText = await text(log?.body as Readable);
    expect(logText).toMatch(/SEVERE \[jobconfig\] secrets-withheld: the secure macro\(s\) DB_PASSWORD/);
    expect(logText).toContain(`POST /api/jobconfigs/${id}/macrobindings`);
    expect(logText).not.toContain(SECRET);

    // The owner cannot confirm what the admin set; the admin can.
    expect(await mod.macros.confirm(owner, id)).toMatchObject({ confirmed: [], withheld: ['DB_PASSWORD'] });
    expect((await mod.jobs.run(owner, id, {})).status).toBe('FAILED');
    expect(await mod.macros.confirm(admin, id)).toMatchObject({
      state: { packageName: 'p.djar', entryPoint: 'main.process' },
      confirmed: ['DB_PASSWORD'],
      withheld: [],
    });
    const again = await mod.jobs.run(owner, id, {});
    expect(again.status).toBe('QUEUED');
    expect(secretIn(await requestOf(again.id))).toEqual([SECRET]);
  });

  it("withholds it after the owner changes the entry point, not after an admin's change", async () => {
    const id = await configured();
    await mod.configs.patch(admin, id, { runtimeConfig: { entryPoint: 'other.process' } });
    const byAdmin = await mod.jobs.run(owner, id, {});
    expect(secretIn(await requestOf(byAdmin.id))).toEqual([SECRET]);
    await mod.configs.patch(owner, id, { runtimeConfig: { entryPoint: 'main.process' } });
    expect(await mod.jobs.run(owner, id, {})).toMatchObject({ status: 'FAILED', reason: 'secrets-withheld' });
  });

  it('withholds it when attached files may override the package (packageArtifactOverride)', async () => {
    const id = await configured();
    await mod.configs.patch(owner, id, { runtimeConfig: { packageArtifactOverride: true } });
    expect((await mod.jobs.run(owner, id, {})).reason).toBe('secrets-withheld');
    await mod.macros.confirm(admin, id);
    expect((await mod.jobs.run(owner, id, {})).status).toBe('QUEUED');
    await upload(id, 'main.mjs', 'an attached file replacing the code');
    expect((await mod.jobs.run(owner, id, {})).reason).toBe('secrets-withheld');
  });

  it("never withholds the owner's own values, nor a value the run request gives itself", async () => {
    const id = await configured();
    await mod.macros.create(owner, id, { key: 'OWN', value: 'owner-secret', secure: true });
    await upload(id, 'p.djar', 'changed by the owner');
    const job = await mod.jobs.run(owner, id, {
      runtimeConfig: { macros: [{ key: 'DB_PASSWORD', value: 'my-own-value', secure: true }] },
    });
    expect(job.status).toBe('QUEUED');
    expect(secretIn(await requestOf(job.id)).sort()).toEqual(['my-own-value', 'owner-secret']);
  });

  it('withholds it from a job promoted behind a blocking one, and from a new attempt', async () => {
    const id = await configured();
    await mod.configs.patch(owner, id, { blocking: true, maxAttempts: 2 });
    const first = await mod.jobs.run(owner, id, {});
    const second = await mod.jobs.run(owner, id, {});
    expect(second.status).toBe('SEQUENCED');
    await requestOf(first.id);
    await mod.jobs.onProgress({
      jobId: first.id,
      attempt: 1,
      status: 'INITIALIZING',
      reason: null,
      returnCode: null,
      currentStep: null,
      runnerId: 'r1',
      occurredAt: new Date().toISOString(),
    });
    await upload(id, 'p.djar', 'swapped while the first job ran');
    // The runner hands the attempt back: the next attempt would run the swapped package.
    await mod.jobs.onProgress({
      jobId: first.id,
      attempt: 1,
      status: 'RELEASED',
      reason: null,
      returnCode: null,
      currentStep: null,
      runnerId: 'r1',
      occurredAt: new Date().toISOString(),
    });
    expect(await mod.jobs.reload(first.id)).toMatchObject({
      status: 'FAILED',
      attempt: 2,
      reason: 'secrets-withheld',
    });
    expect(await mod.jobs.reload(second.id)).toMatchObject({ status: 'FAILED', reason: 'secrets-withheld' });
    expect(requests.filter((r) => r.jobId === second.id || r.attempt === 2)).toEqual([]);
  });

  it('binds values stored before bindings existed at start-up, to the code their configuration runs then', async () => {
    const id = await configured();
    const row = (await db('job_configs')
      .where({ id: Number(id) })
      .first()) as { macros: string };
    const unbound = (JSON.parse(row.macros) as Record<string, unknown>[]).map(({ binding: _b, ...m }) => m);
    await db('job_configs')
      .where({ id: Number(id) })
      .update({ macros: JSON.stringify(unbound) });
    expect((await mod.jobs.run(owner, id, {})).reason).toBe('secrets-withheld');
    const lastModified = (await mod.configs.findById(id))?.updatedAt;
    await mod.stop();
    await mod.start();
    const bound = await mod.configs.findById(id);
    expect(bound?.macros[0]?.binding).toMatchObject({ packageName: 'p.djar', by: { id: '' } });
    expect(bound?.updatedAt).toBe(lastModified);
    expect((await mod.jobs.run(owner, id, {})).status).toBe('QUEUED');
    await upload(id, 'p.djar', 'changed after the upgrade');
    expect((await mod.jobs.run(owner, id, {})).reason).toBe('secrets-withheld');
    expect((await mod.macros.confirm(owner, id)).confirmed).toEqual([]);
    expect((await mod.macros.confirm(admin, id)).confirmed).toEqual(['DB_PASSWORD']);
  });
});

type Bindable = { secure: boolean; value: string | null; binding?: MacroBinding };

describe('the binding rule', () => {
  const state = (v: string, entryPoint = 'main.process'): PackageState => ({
    packageName: 'p.djar',
    packageVersion: v,
    entryPoint,
    packageArtifactOverride: false,
  });
  const c = { ownerId: owner.id };

  it('binds new values, carries bindings its setter or an admin moves, leaves the others', () => {
    const [fresh] = bindSecureValues<Bindable>(
      [{ secure: true, value: 'x' }],
      state('v1'),
      state('v1'),
      admin,
      1,
    );
    expect(fresh?.binding).toMatchObject({ packageVersion: 'v1', by: { id: admin.id } });
    const [carried] = bindSecureValues([fresh!], state('v1'), state('v1', 'other'), admin, 2);
    expect(carried?.binding).toMatchObject({ entryPoint: 'other' });
    const [kept] = bindSecureValues([fresh!], state('v1'), state('v1', 'other'), owner, 2);
    expect(kept?.binding).toMatchObject({ entryPoint: 'main.process' });
    expect(isWithheld(c, { key: 'k', ...kept! }, state('v1', 'other'))).toBe(true);
    expect(isWithheld(c, { key: 'k', ...kept! }, state('v1'))).toBe(false);
  });

  it('withholds a value without a binding, never a plain one', () => {
    expect(isWithheld(c, { key: 'k', secure: true, value: 'x' }, state('v1'))).toBe(true);
    expect(isWithheld(c, { key: 'k', secure: false, value: 'x' }, state('v1'))).toBe(false);
  });
});
