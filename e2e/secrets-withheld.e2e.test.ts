import { buildZip, waitFor } from '@im/testing';
import { client, type Api } from './http';
import { distributedDriver, standaloneDriver, type PlatformDriver } from './platforms';

/**
 * Issue #13 item 6 through the gateway (ADR 0016): an administrator stores a secure macro on a General
 * User's configuration; the user swaps the package for one that writes the macro base64-encoded to an
 * output file. The run gets nothing and ends FAILED `secrets-withheld`; once the administrator confirms
 * the new code, the run receives the value (the confirmation is the administrator's decision).
 */
describe.each([
  ['standalone', standaloneDriver],
  ['distributed', distributedDriver],
] as const)('secure macros withheld from changed code, %s', (_name, makeDriver) => {
  const driver: PlatformDriver = makeDriver();
  const SECRET = 'e2e-admin-Only-Secret-4d1c';
  const encoded = Buffer.from(SECRET).toString('base64');
  let api: Api;
  let adminToken: string;
  let userToken: string;

  beforeAll(async () => {
    await driver.start();
    api = client(driver.url());
    adminToken = (
      await api('POST', '/api/login', { json: { username: 'admin', password: driver.adminPassword } })
    ).json.access_token;
    const password = 'general-user-password-1';
    const created = await api('POST', '/api/users', {
      token: adminToken,
      json: { name: 'gu-secrets', password },
    });
    expect(created.status).toBe(201);
    userToken = (await api('POST', '/api/login', { json: { username: 'gu-secrets', password } })).json
      .access_token;
  }, 180_000);

  afterAll(async () => {
    await driver.stop();
  }, 60_000);

  const upload = async (id: string, script: string) => {
    const r = await api('PUT', `/api/jobconfigs/${id}/files/p.djar`, {
      token: userToken,
      body: await buildZip({ 'main.mjs': script }),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect([200, 201]).toContain(r.status);
  };

  const runToEnd = async () => {
    const run = await api('POST', `/api/jobconfigs/${configId}/jobs`, { token: userToken });
    expect(run.status).toBe(202);
    return waitFor(
      async () => {
        const r = await api('GET', `/api/jobs/${run.json.id}`, { token: userToken });
        return ['FINISHED', 'ERROR', 'FAILED', 'CANCELLED'].includes(r.json.status) ? r.json : undefined;
      },
      { timeoutMs: 60_000, what: 'the job to end' },
    );
  };

  let configId = '';

  it('runs the reviewed package with the secret, withholds it from the swapped one until an admin confirms', async () => {
    const created = await api('POST', '/api/jobconfigs', {
      token: userToken,
      json: { name: 'gu config', active: true },
    });
    expect(created.status).toBe(201);
    configId = String(created.json.id);
    await upload(
      configId,
      `export default async ({ macros, logger }) => {
        if (!macros.DB_PASSWORD) throw new Error('no secret');
        logger.info('connected');
      }`,
    );
    const pointed = await api('PATCH', `/api/jobconfigs/${configId}`, {
      token: userToken,
      json: { runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.mjs' } },
    });
    expect(pointed.status).toBe(200);
    const macro = await api('POST', `/api/jobconfigs/${configId}/macros`, {
      token: adminToken,
      json: { key: 'DB_PASSWORD', value: SECRET, secure: true },
    });
    expect(macro.status).toBe(201);
    expect((await runToEnd()).status).toBe('FINISHED');

    // The attack: the user swaps the package for one that exfiltrates the value, encoded.
    await upload(
      configId,
      `import { writeFile } from 'node:fs/promises';
      export default async ({ macros, outputDir }) => {
        await writeFile(outputDir + '/loot.txt', Buffer.from(String(macros.DB_PASSWORD ?? '')).toString('base64'));
      }`,
    );
    const withheld = await runToEnd();
    expect(withheld).toMatchObject({ status: 'FAILED', reason: 'secrets-withheld' });
    const log = await api('GET', `/api/jobs/${withheld.id}/log`, { token: userToken });
    expect(log.text).toContain('secrets-withheld: the secure macro(s) DB_PASSWORD');
    expect(log.text).toContain(`POST /api/jobconfigs/${configId}/macrobindings`);
    const loot = await api('GET', `/api/jobs/${withheld.id}/out/files/loot.txt`, { token: userToken });
    expect(loot.status).toBe(404);

    // The user cannot confirm what the admin set.
    const byUser = await api('POST', `/api/jobconfigs/${configId}/macrobindings`, { token: userToken });
    expect(byUser.status).toBe(200);
    expect(byUser.json).toMatchObject({ confirmed: [], withheld: ['DB_PASSWORD'] });
    expect((await runToEnd()).reason).toBe('secrets-withheld');

    // The admin confirms this code: from now on it gets the value (and here writes it out).
    const byAdmin = await api('POST', `/api/jobconfigs/${configId}/macrobindings`, { token: adminToken });
    expect(byAdmin.json).toMatchObject({
      packageName: 'p.djar',
      entryPoint: 'main.mjs',
      confirmed: ['DB_PASSWORD'],
      withheld: [],
    });
    const confirmed = await runToEnd();
    expect(confirmed.status).toBe('FINISHED');
    const out = await api('GET', `/api/jobs/${confirmed.id}/out/files/loot.txt`, { token: userToken });
    expect(out.text).toBe(encoded);
  }, 240_000);
});
