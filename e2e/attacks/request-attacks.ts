import { buildZip, waitFor } from '@im/testing';
import { topicCatalog } from '@im/contracts';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { postFrom } from './host';
import { jobs } from './jobs';
import type { AttackState } from './suite';
import { verdict } from './verdict';

const PASSWORD = 'Zq7-attack-Pw-91x';

/** Attacks made with requests, from outside any job: tokens, secrets, logins, internal endpoints, the bus. */
export function requestAttacks(s: AttackState, mode: 'standalone' | 'distributed'): void {
  const tag = randomBytes(4).toString('hex');
  const admin = (method: string, path: string, json?: unknown) =>
    s.api(method, path, { token: s.token, ...(json === undefined ? {} : { json }) });
  const newUser = async (name: string, roles: string[]) => {
    const r = await admin('POST', '/api/users', { name, password: PASSWORD, roles });
    if (r.status !== 201) throw new Error(`creating ${name}: ${r.status} ${r.text}`);
    const login = await s.api('POST', '/api/login', { json: { username: name, password: PASSWORD } });
    if (login.status !== 200) throw new Error(`logging in as ${name}: ${login.status} ${login.text}`);
    return { id: String(r.json.id), token: login.json.access_token as string };
  };

  it("a demoted admin's old token no longer acts as an admin within 5 s", async () => {
    const mallory = await newUser(`mallory-${tag}`, ['admin']);
    expect((await admin('PUT', `/api/users/${mallory.id}`, { roles: ['user'] })).status).toBe(200);
    const demotedAt = Date.now();
    const as = (method: string, path: string, json: unknown) =>
      s.api(method, path, { token: mallory.token, json });
    // The re-check may take up to 5 s; a little more for the requests themselves.
    const refusedAfter = await waitFor(
      async () =>
        (await s.api('GET', '/api/users', { token: mallory.token })).status === 403 ? Date.now() : undefined,
      { timeoutMs: 7_000, intervalMs: 250, what: 'the demoted token to be refused' },
    ).catch(() => undefined);
    const created = await as('POST', '/api/users', {
      name: `made-by-mallory-${tag}`,
      password: PASSWORD,
      roles: ['admin'],
    });
    const regranted = await as('PUT', `/api/users/${mallory.id}`, { roles: ['admin'] });
    verdict(
      s.platform.name,
      'demoted-admin-token',
      refusedAfter === undefined || created.status < 300 || regranted.status < 300,
      `GET /api/users refused after ${refusedAfter === undefined ? 'never' : `${refusedAfter - demotedAt} ms`}; creating an admin: ${created.status}; re-granting admin to itself: ${regranted.status}`,
    );
  });

  it('a user who changes the package of a configuration does not get its secure macros, even encoded', async () => {
    const secret = `Sec-${randomBytes(9).toString('hex')}`;
    const eve = await newUser(`eve-${tag}`, ['user']);
    const hers = jobs(s.api, eve.token);
    const benign = await buildZip({
      'main.process': 'steps:\n  - name: hello\n    type: log\n    message: hello\n',
    });
    const id = await hers.configure(`eve's config ${tag}`, benign, 'main.process');
    const macro = await admin('POST', `/api/jobconfigs/${id}/macros`, {
      key: 'API_KEY',
      value: secret,
      secure: true,
    });
    expect(macro.status).toBe(201);
    const exfil = `export default async function ({ macros, logger, outputDir }) {
  const fs = await import('node:fs');
  const v = macros.API_KEY ?? '';
  const forms = { base64: Buffer.from(v).toString('base64'), reversed: [...v].reverse().join(''), spaced: [...v].join(' ') };
  fs.writeFileSync(outputDir + '/exfil.json', JSON.stringify(forms));
  logger.info('exfil ' + forms.base64 + ' ' + forms.reversed);
}
`;
    await hers.upload(id, await buildZip({ 'main.process': 'steps: []\n', 'exfil.mjs': exfil }));
    const changed = await s.api('PUT', `/api/jobconfigs/${id}`, {
      token: eve.token,
      json: {
        name: `eve's config ${tag}`,
        active: true,
        runtimeConfig: { packageName: 'p.djar', entryPoint: 'exfil.mjs' },
      },
    });
    expect(changed.status).toBe(200);
    const job = await hers.ended(await hers.run(id));
    const seen = `${await hers.log(job.id)}\n${JSON.stringify((await hers.outJson(job.id, 'exfil.json')) ?? {})}`;
    const encodings = {
      plain: secret,
      base64: Buffer.from(secret).toString('base64'),
      reversed: [...secret].reverse().join(''),
      spaced: [...secret].join(' '),
    };
    const leaked = Object.entries(encodings)
      .filter(([, v]) => seen.includes(v))
      .map(([k]) => k);
    verdict(
      s.platform.name,
      'secret-via-changed-package',
      leaked.length > 0,
      `job ${job.status}${job.reason ? ` (${job.reason})` : ''}; the secret found ${leaked.join(', ') || 'in no form'} in its log and output`,
    );
  });

  it('X-Forwarded-For from a client that is no configured proxy does not set the client address', async () => {
    const username = `nobody-${tag}`;
    const spoofed = `203.0.113.${1 + ((randomBytes(1)[0] as number) % 250)}`;
    const r = await s.api('POST', '/api/login', {
      json: { username, password: 'wrong-password-xff' },
      headers: { 'x-forwarded-for': spoofed },
    });
    expect(r.status).toBe(401);
    const event = await waitFor(
      async () => {
        const page = await admin('GET', '/api/audit?size=100&action=login.failed');
        return (page.json?.items as any[])?.find((e) => e.details?.username === username);
      },
      { timeoutMs: 30_000, what: 'the failed login in the audit trail' },
    );
    verdict(
      s.platform.name,
      'x-forwarded-for-spoofing',
      event.sourceIp === spoofed,
      `sent X-Forwarded-For ${spoofed}; the audit recorded ${event.sourceIp}`,
    );
  });

  it('failed logins from one client do not lock another user out', async () => {
    const alice = await newUser(`alice-${tag}`, ['user']);
    for (let i = 0; i < 6; i++) {
      const r = await s.api('POST', '/api/login', {
        json: { username: `alice-${tag}`, password: `wrong-password-${i}` },
        headers: { 'x-forwarded-for': `198.51.100.${i + 1}` },
      });
      expect(r.status).not.toBe(200);
    }
    // Alice, from another address of her own (127.0.0.2 is not the attacker's 127.0.0.1).
    const hers = await postFrom('127.0.0.2', `${s.platform.url}/api/login`, {
      username: `alice-${tag}`,
      password: PASSWORD,
    });
    verdict(
      s.platform.name,
      'lockout-of-another-user',
      hers.status !== 200,
      `6 wrong passwords from 127.0.0.1, then alice (id ${alice.id}) from 127.0.0.2: ${hers.status}`,
    );
  });

  it('/metrics of every process answers no client without credentials', async () => {
    const open: string[] = [];
    for (const [name, url] of Object.entries(s.platform.serviceUrls)) {
      const r = await fetch(`${url}/metrics`);
      if (r.status === 200) open.push(`${name} ${r.status}`);
      await r.arrayBuffer();
    }
    verdict(
      s.platform.name,
      'metrics-without-credentials',
      open.length > 0,
      `answered 200: [${open.join('; ')}]`,
    );
  });

  // Standalone has no broker and no internal HTTP: its bus and its calls are in-process.
  if (mode !== 'distributed') return;

  it("the services behind the gateway answer no direct call, even with a user's valid token", async () => {
    const configs = await admin('GET', '/api/jobconfigs');
    const configId = String(configs.json?.items?.[0]?.id ?? 1);
    const paths: Record<string, string> = {
      auth: '/api/users',
      jobconfig: '/api/jobs',
      'file-storage': `/api/jobconfigs/${configId}/files`,
    };
    const answered: string[] = [];
    for (const [name, p] of Object.entries(paths)) {
      const url = s.platform.serviceUrls[name];
      if (!url) throw new Error(`the distributed platform names no ${name}`);
      const r = await fetch(`${url}${p}`, { headers: { authorization: `Bearer ${s.token}` } });
      answered.push(`${name} ${p}: ${r.status}`);
      await r.arrayBuffer();
    }
    verdict(
      s.platform.name,
      'internal-endpoints-direct',
      answered.some((a) => / 2\d\d$/.test(a)),
      answered.join('; '),
    );
  });
  it('the broker refuses a forged record to each internal topic from a client without credentials', async () => {
    if (!s.platform.kafka) throw new Error('the distributed platform names no broker');
    const kafka = new Kafka({
      clientId: 'attacker',
      brokers: s.platform.kafka.brokers,
      connectionTimeout: 3_000,
      requestTimeout: 5_000,
      retry: { retries: 0 },
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    const accepted: string[] = [];
    const refused: string[] = [];
    try {
      await producer.connect();
      for (const topic of Object.keys(topicCatalog)) {
        try {
          await producer.send({
            topic: `${s.platform.kafka.topicPrefix}${topic}`,
            messages: [{ key: `forged-${tag}`, value: JSON.stringify({ forged: true }) }],
          });
          accepted.push(topic);
        } catch (e) {
          refused.push(`${topic}: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      refused.push(`connect: ${(e as Error).message}`);
    } finally {
      await producer.disconnect().catch(() => undefined);
    }
    verdict(
      s.platform.name,
      'kafka-forged-record',
      accepted.length > 0,
      `accepted: [${accepted.join(', ')}]; refused: [${refused.join('; ').slice(0, 300)}]`,
    );
  });
}
