import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { infraEnv, uniqueName } from './infra-env';
import { waitFor } from './wait-for';

const repoRoot = path.resolve(__dirname, '..', '..', '..');

export interface DistributedPlatform {
  /** The gateway's base URL. */
  url: string;
  topicPrefix: string;
  adminPassword: string;
  processes: Record<string, ChildProcess>;
  output(name: string): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

const entry = (service: string) => path.join(repoRoot, 'services', service, 'dist', 'main.js');

/**
 * Starts the platform as separate processes (gateway, auth, jobconfig, file-storage, job-runner) on
 * the real PostgreSQL, Kafka and S3 server of scripts/infra, isolated by schema names, a topic prefix
 * and an object-key prefix of its own. Creates the topics and runs each service's migrations first.
 */
export async function startDistributed(): Promise<DistributedPlatform> {
  const infra = infraEnv();
  const id = uniqueName('e2e');
  const topicPrefix = `${id}.`;
  const adminPassword = 'distributed-admin-123';
  const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-keys-'));
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  fs.writeFileSync(path.join(keyDir, 'private.pem'), keys.privateKey, { mode: 0o600 });
  fs.writeFileSync(path.join(keyDir, 'public.pem'), keys.publicKey);
  const ports = {
    gateway: await freePort(),
    auth: await freePort(),
    jobconfig: await freePort(),
    files: await freePort(),
    runner: await freePort(),
  };
  const url = (p: number) => `http://127.0.0.1:${p}`;
  const common: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: os.tmpdir(),
    LOG_LEVEL: 'warn',
    HTTP_HOST: '127.0.0.1',
    AUTH_JWT_PUBLIC_KEY_FILE: path.join(keyDir, 'public.pem'),
    KAFKA_BROKERS: infra.kafkaBrokers.join(','),
    KAFKA_TOPIC_PREFIX: topicPrefix,
    S3_ENDPOINT: infra.s3.endpoint,
    S3_REGION: infra.s3.region,
    S3_BUCKET: infra.s3.bucket,
    S3_ACCESS_KEY_ID: infra.s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: infra.s3.secretAccessKey,
    S3_KEY_PREFIX: `${id}/`,
    DB_CLIENT: 'postgres',
    DB_URL: infra.pgUrl,
    DB_POOL_MAX: '4',
  };
  const env: Record<string, Record<string, string>> = {
    auth: {
      ...common,
      HTTP_PORT: String(ports.auth),
      DB_SCHEMA: `${id}_auth`,
      AUTH_JWT_PRIVATE_KEY_FILE: path.join(keyDir, 'private.pem'),
      AUTH_ADMIN_PASSWORD: adminPassword,
    },
    jobconfig: {
      ...common,
      HTTP_PORT: String(ports.jobconfig),
      DB_SCHEMA: `${id}_jobconfig`,
      FILES_SERVICE_URL: url(ports.files),
      KAFKA_TOPIC_PARTITIONS: '3',
      KAFKA_TOPIC_REPLICATION: '1',
    },
    'file-storage': {
      ...common,
      HTTP_PORT: String(ports.files),
      DB_SCHEMA: `${id}_files`,
      JOBCONFIG_SERVICE_URL: url(ports.jobconfig),
    },
    'job-runner': {
      ...common,
      HTTP_PORT: String(ports.runner),
      RUNNER_SLOTS: '2',
      RUNNER_WORK_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'im-runner-')),
    },
    gateway: {
      ...common,
      HTTP_PORT: String(ports.gateway),
      AUTH_SERVICE_URL: url(ports.auth),
      JOBCONFIG_SERVICE_URL: url(ports.jobconfig),
      FILES_SERVICE_URL: url(ports.files),
    },
  };

  // Setup steps, as the chart's Jobs run them: topics, then each service's migrations.
  const once = (service: string, command: string) => {
    const r = spawnSync(process.execPath, [entry(service), command], {
      env: env[service],
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status !== 0)
      throw new Error(`${service} ${command} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  };
  once('jobconfig', 'create-topics');
  for (const s of ['auth', 'jobconfig', 'file-storage']) once(s, 'migrate');

  const processes: Record<string, ChildProcess> = {};
  const outputs: Record<string, string> = {};
  for (const service of ['auth', 'jobconfig', 'file-storage', 'job-runner', 'gateway']) {
    const child = spawn(process.execPath, [entry(service)], {
      env: env[service],
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    outputs[service] = '';
    child.stdout?.on('data', (d: Buffer) => (outputs[service] += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (outputs[service] += d.toString()));
    processes[service] = child;
  }
  const stop = async () => {
    await Promise.all(
      Object.values(processes).map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          }),
      ),
    );
    fs.rmSync(keyDir, { recursive: true, force: true });
  };
  try {
    for (const [service, port] of [
      ['auth', ports.auth],
      ['jobconfig', ports.jobconfig],
      ['file-storage', ports.files],
      ['job-runner', ports.runner],
      ['gateway', ports.gateway],
    ] as const) {
      await waitFor(
        async () => {
          const c = processes[service] as ChildProcess;
          if (c.exitCode !== null) throw new Error(`${service} exited (${c.exitCode}):\n${outputs[service]}`);
          const res = await fetch(`${url(port)}/readyz`);
          return res.ok ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: `${service} to be ready` },
      );
    }
  } catch (err) {
    await stop();
    throw new Error(
      `${(err as Error).message}\n${Object.entries(outputs)
        .map(([k, v]) => `--- ${k}\n${v}`)
        .join('\n')}`,
    );
  }
  return {
    url: url(ports.gateway),
    topicPrefix,
    adminPassword,
    processes,
    output: (name) => outputs[name] ?? '',
    stop,
  };
}
