import {
  buildSamplePackage,
  buildZip,
  infraEnv,
  startDistributed,
  waitFor,
  type DistributedPlatform,
} from '@im/testing';
import { Kafka, logLevel } from 'kafkajs';
import { client, type Api } from './http';

/**
 * The quick start through the gateway against the services as separate processes on the real
 * PostgreSQL, Kafka and S3 server; the public job-status topic read with a plain Kafka consumer.
 */
describe('quick start, distributed', () => {
  let platform: DistributedPlatform;
  let api: Api;
  const events: { key: string; value: any; contentType: string | undefined }[] = [];
  let consumer: ReturnType<Kafka['consumer']>;

  beforeAll(async () => {
    platform = await startDistributed();
    api = client(platform.url);
    const kafka = new Kafka({
      clientId: 'e2e-observer',
      brokers: infraEnv().kafkaBrokers,
      sasl: infraEnv().kafkaSasl,
      logLevel: logLevel.NOTHING,
    });
    consumer = kafka.consumer({ groupId: `${platform.topicPrefix}observer`, maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic: `${platform.topicPrefix}job.status`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        events.push({
          key: message.key!.toString(),
          value: JSON.parse(message.value!.toString()),
          contentType: message.headers?.['content-type']?.toString(),
        });
      },
    });
  }, 120_000);

  afterAll(async () => {
    await consumer?.disconnect();
    await platform?.stop();
  });

  it('logs in, uploads, points, runs to FINISHED, and publishes each transition in order', async () => {
    const login = await api('POST', '/api/login', {
      json: { username: 'admin', password: platform.adminPassword },
    });
    expect(login.status).toBe(200);
    const token = login.json.access_token as string;
    expect((await api('GET', '/api/jobconfigs')).status).toBe(401);

    const config = await api('POST', '/api/jobconfigs', {
      token,
      json: { active: true, name: 'sample config' },
    });
    expect(config.status).toBe(201);
    expect(config.json.href).toBe(`${platform.url}/api/jobconfigs/${config.json.id}`);
    const id = config.json.id as string;

    const pkg = buildSamplePackage();
    const form = new FormData();
    form.append('key', 'samplePackage.djar');
    form.append('file', new Blob([pkg]), 'samplePackage.djar');
    const upload = await api('POST', `/api/jobconfigs/${id}/files`, { token, body: form });
    expect(upload.status).toBe(201);
    expect(upload.json.metadata.size).toBe(pkg.length);

    const notAttached = await api('PUT', `/api/jobconfigs/${id}`, {
      token,
      json: { name: 'sample config', runtimeConfig: { packageName: 'nope.djar' } },
    });
    expect(notAttached.status).toBe(400);
    expect(notAttached.json.code).toBe('PACKAGE_NOT_ATTACHED');

    const put = await api('PUT', `/api/jobconfigs/${id}`, {
      token,
      json: {
        active: true,
        name: 'sample config',
        runtimeConfig: { packageName: 'samplePackage.djar', entryPoint: 'integrateXYZ.process' },
      },
    });
    expect(put.status).toBe(200);
    expect(put.json.runtimeConfig.packagePrefix).toBe(`configuration/${id}`);
    const eps = await api('GET', `/api/jobconfigs/${id}/package/entrypoints`, { token });
    expect(eps.json.entryPoints).toContain('integrateXYZ.process');

    const run = await api('POST', `/api/jobconfigs/${id}/jobs`, { token });
    expect(run.status).toBe(202);
    const jobId = run.json.id as string;
    const job = await waitFor(
      async () => {
        const r = await api('GET', `/api/jobs/${jobId}`, { token });
        return ['FINISHED', 'ERROR', 'FAILED'].includes(r.json.status) ? r.json : undefined;
      },
      { timeoutMs: 60_000, what: 'the job to end' },
    );
    expect(job.status).toBe('FINISHED');
    const log = await api('GET', `/api/jobs/${jobId}/log`, { token });
    expect(log.text).toContain(`starting job ${jobId}`);
    expect(log.text).toContain('read 3 customers (2 active)');

    const mine = await waitFor(
      () => {
        const e = events.filter((x) => x.key === jobId);
        return e.length >= 4 ? e : undefined;
      },
      { timeoutMs: 30_000, what: 'four status events' },
    );
    expect(mine.map((e) => [e.value.data.status, e.value.data.sequence])).toEqual([
      ['QUEUED', 1],
      ['INITIALIZING', 2],
      ['RUNNING', 3],
      ['FINISHED', 4],
    ]);
    expect(mine[0]!.contentType).toBe('application/cloudevents+json');
    expect(mine[3]!.value).toMatchObject({
      specversion: '1.0',
      type: 'im.job.status.v1',
      subject: jobId,
      data: { jobConfigId: id, previousStatus: 'RUNNING', attempt: 1 },
    });
  }, 120_000);

  it('keeps a secure macro encrypted on job.requests; the runner decrypts it for the package and masks it', async () => {
    const secret = 'distributed-S3cr3t-value';
    const requests: string[] = [];
    const kafka = new Kafka({
      clientId: 'e2e-requests',
      brokers: infraEnv().kafkaBrokers,
      sasl: infraEnv().kafkaSasl,
      logLevel: logLevel.NOTHING,
    });
    const reader = kafka.consumer({
      groupId: `${platform.topicPrefix}requests-observer`,
      maxWaitTimeInMs: 200,
    });
    await reader.connect();
    await reader.subscribe({ topic: `${platform.topicPrefix}job.requests`, fromBeginning: true });
    await reader.run({ eachMessage: async ({ message }) => void requests.push(message.value!.toString()) });
    try {
      const token = (
        await api('POST', '/api/login', { json: { username: 'admin', password: platform.adminPassword } })
      ).json.access_token as string;
      const id = (await api('POST', '/api/jobconfigs', { token, json: { active: true, name: 'secrets' } }))
        .json.id as string;
      const form = new FormData();
      form.append('key', 'secret.djar');
      const pkg = await buildZip({
        'main.mjs': `export default async ({ logger, macros }) => {
          logger.info('using ' + macros.PASSWORD);
          if (macros.PASSWORD !== '${secret}') throw new Error('the secret was not decrypted');
        }`,
      });
      form.append('file', new Blob([pkg]), 'secret.djar');
      expect((await api('POST', `/api/jobconfigs/${id}/files`, { token, body: form })).status).toBe(201);
      const put = await api('PUT', `/api/jobconfigs/${id}`, {
        token,
        json: {
          active: true,
          name: 'secrets',
          runtimeConfig: { packageName: 'secret.djar', entryPoint: 'main.mjs' },
        },
      });
      expect(put.status).toBe(200);
      const macro = await api('POST', `/api/jobconfigs/${id}/macros`, {
        token,
        json: { key: 'PASSWORD', value: secret, secure: true },
      });
      expect(macro.status).toBe(201);
      expect(macro.json.value).toBeUndefined();

      const jobId = (await api('POST', `/api/jobconfigs/${id}/jobs`, { token })).json.id as string;
      const job = await waitFor(
        async () => {
          const r = await api('GET', `/api/jobs/${jobId}`, { token });
          return ['FINISHED', 'ERROR', 'FAILED'].includes(r.json.status) ? r.json : undefined;
        },
        { timeoutMs: 60_000, what: 'the job to end' },
      );
      const log = await api('GET', `/api/jobs/${jobId}/log`, { token });
      expect(job.status).toBe('FINISHED');
      expect(log.text).toContain('using ****');
      expect(log.text).not.toContain(secret);

      const request = await waitFor(() => requests.find((r) => r.includes(jobId)), {
        timeoutMs: 30_000,
        what: 'the job request on the topic',
      });
      expect(request).not.toContain(secret);
      const sent = (JSON.parse(request) as { macros: { key: string; value: string }[] }).macros;
      expect(sent.find((m) => m.key === 'PASSWORD')?.value).toMatch(/^enc:v1:e2e:/);
    } finally {
      await reader.disconnect();
    }
  }, 120_000);

  it('propagates the request id through the gateway', async () => {
    const r = await fetch(`${platform.url}/api/product/info`, {
      headers: { 'x-request-id': 'trace-me-123' },
    });
    expect(r.headers.get('x-request-id')).toBe('trace-me-123');
    const bad = await api('GET', '/api/jobconfigs/1', {
      token: 'not-a-token',
      headers: { 'x-request-id': 'trace-me-456' },
    });
    expect(bad.status).toBe(401);
    expect(bad.json.requestId).toBe('trace-me-456');
  });
});

describe('two runners', () => {
  let platform: DistributedPlatform;

  beforeAll(async () => {
    platform = await startDistributed({ runners: 2 });
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
  });

  it('spreads 20 jobs submitted at once over both runners, and all of them finish', async () => {
    const api = client(platform.url);
    const token = (
      await api('POST', '/api/login', { json: { username: 'admin', password: platform.adminPassword } })
    ).json.access_token as string;
    const config = await api('POST', '/api/jobconfigs', { token, json: { name: 'many' } });
    const id = config.json.id as string;
    const pkg = await buildZip({
      'work.mjs': `export default async ({ logger }) => { await new Promise((r) => setTimeout(r, 200)); logger.info('worked'); };`,
    });
    expect(
      (
        await api('POST', `/api/jobconfigs/${id}/files?key=p.djar`, {
          token,
          body: pkg,
          headers: { 'content-type': 'application/octet-stream' },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await api('PATCH', `/api/jobconfigs/${id}`, {
          token,
          json: { runtimeConfig: { packageName: 'p.djar', entryPoint: 'work.mjs' } },
        })
      ).status,
    ).toBe(200);

    const runs = await Promise.all(
      Array.from({ length: 20 }, () => api('POST', `/api/jobconfigs/${id}/jobs`, { token })),
    );
    expect(runs.map((r) => r.status)).toEqual(new Array(20).fill(202));
    const ids = runs.map((r) => r.json.id as string);

    await waitFor(
      async () => {
        const list = await api('GET', `/api/jobconfigs/${id}/jobs?size=50`, { token });
        const ended = (list.json.items as { status: string }[]).filter((j) =>
          ['FINISHED', 'ERROR', 'FAILED'].includes(j.status),
        );
        return ended.length === 20 ? true : undefined;
      },
      { timeoutMs: 90_000, what: 'all 20 jobs to end' },
    );
    const runners = new Map<string, number>();
    for (const jobId of ids) {
      const job = await api('GET', `/api/jobs/${jobId}`, { token });
      expect(job.json.status).toBe('FINISHED');
      const log = (await api('GET', `/api/jobs/${jobId}/log`, { token })).text;
      const runner = /attempt 1 on runner (\S+)/.exec(log)?.[1];
      expect(runner).toBeDefined();
      runners.set(runner!, (runners.get(runner!) ?? 0) + 1);
    }
    expect([...runners.keys()].sort()).toEqual(['job-runner-1', 'job-runner-2']);
  }, 150_000);
});
