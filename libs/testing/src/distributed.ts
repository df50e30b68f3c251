import { platformNodeOptions } from '@im/config';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { infraEnv, uniqueName, type KafkaUserRole } from './infra-env';
import { waitFor } from './wait-for';

const repoRoot = path.resolve(__dirname, '..', '..', '..');

export interface DistributedPlatform {
  /** The gateway's base URL. */
  url: string;
  /** Each process's own base URL (gateway, auth, jobconfig, file-storage, job-runner-N), to bypass the gateway. */
  urls: Record<string, string>;
  topicPrefix: string;
  adminPassword: string;
  /** PEM of the token-signing key (tests forge expired tokens with it). */
  privateKeyPem: string;
  /** INTERNAL_TOKEN of this installation (the gateway and the services; never the runners). */
  internalToken: string;
  /** METRICS_TOKEN of every process: `Authorization: Bearer <it>` on /metrics. */
  metricsToken: string;
  processes: Record<string, ChildProcess>;
  output(name: string): string;
  /** Stops every service (SIGTERM) and resolves with their exit codes. */
  stopServices(): Promise<Record<string, number | null>>;
  /** Starts the services again on the same databases, topics and objects. */
  startServices(): Promise<void>;
  /** Stops the services and removes the temp keys. */
  stop(): Promise<void>;
  /** Sends `signal` to one process (`job-runner-1`, `jobconfig-2`, ...) and resolves once it exited. */
  kill(
    name: string,
    signal?: NodeJS.Signals,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Starts one process again (after {@link kill}) and waits until its /readyz answers 200. */
  start(name: string): Promise<void>;
  /** The process names, in start order. */
  names: string[];
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
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

export interface DistributedOptions {
  /** Runner processes in the job-runner group. */
  runners?: number;
  /** jobconfig processes on the same database and topics (`jobconfig`, `jobconfig-2`, ...); the gateway uses the first. */
  jobconfigs?: number;
  /** Extra environment per process name (`jobconfig`, `job-runner-1`, ...) or `*` for all, applied last. */
  env?: Record<string, Record<string, string>>;
}

/**
 * Starts the platform as separate processes (gateway, auth, jobconfig, file-storage, job-runner) on
 * the real PostgreSQL, Kafka and S3 server of scripts/infra, isolated by schema names, a topic prefix
 * and an object-key prefix of its own. Creates the topics and runs each service's migrations first,
 * as the chart's Jobs do.
 */
export async function startDistributed(options: DistributedOptions = {}): Promise<DistributedPlatform> {
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
  const runnerNames = Array.from({ length: options.runners ?? 1 }, (_, i) => `job-runner-${i + 1}`);
  const jobconfigNames = Array.from({ length: options.jobconfigs ?? 1 }, (_, i) =>
    i === 0 ? 'jobconfig' : `jobconfig-${i + 1}`,
  );
  const ports: Record<string, number> = {};
  for (const name of ['gateway', 'auth', ...jobconfigNames, 'file-storage', ...runnerNames])
    ports[name] = await freePort();
  const url = (name: string) => `http://127.0.0.1:${ports[name]}`;
  // jobconfig and every runner share the keyring of secure macro values (required by both).
  const secretsKeys = `e2e:${randomBytes(32).toString('base64')}`;
  // The internal token goes to the gateway and the services behind it, not to the runners.
  const internalToken = randomBytes(32).toString('hex');
  const metricsToken = randomBytes(32).toString('hex');
  const common: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: os.tmpdir(),
    LOG_LEVEL: 'warn',
    HTTP_HOST: '127.0.0.1',
    // Each service verifies tokens against the auth service's JWKS, as in a cluster.
    AUTH_JWKS_URL: `${url('auth')}/api/.well-known/jwks.json`,
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
    METRICS_TOKEN: metricsToken,
  };
  // The services believe the client address (X-Forwarded-For) only from the gateway, which connects
  // from 127.0.0.1; clients of the tests may use other loopback addresses (127.0.0.2, ...).
  const fromGateway = { HTTP_TRUST_PROXY: '127.0.0.1' };
  // Each service connects as its own Kafka principal, allowed only its topics and groups.
  const kafkaUser = (role: KafkaUserRole) => {
    const u = infra.kafkaUser(role);
    return {
      KAFKA_SASL_MECHANISM: u.mechanism,
      KAFKA_SASL_USERNAME: u.username,
      KAFKA_SASL_PASSWORD: u.password,
    };
  };
  const behindGateway = { ...common, INTERNAL_TOKEN: internalToken };
  const env: Record<string, Record<string, string>> = {
    auth: {
      ...behindGateway,
      ...kafkaUser('auth'),
      HTTP_PORT: String(ports.auth),
      DB_SCHEMA: `${id}_auth`,
      AUTH_JWT_PRIVATE_KEY_FILE: path.join(keyDir, 'private.pem'),
      AUTH_ADMIN_PASSWORD: adminPassword,
      ...fromGateway,
    },
    jobconfig: {
      ...behindGateway,
      ...kafkaUser('jobconfig'),
      HTTP_PORT: String(ports.jobconfig),
      DB_SCHEMA: `${id}_jobconfig`,
      FILES_SERVICE_URL: url('file-storage'),
      KAFKA_TOPIC_PARTITIONS: '3',
      KAFKA_TOPIC_REPLICATION: '1',
      SECRETS_ENCRYPTION_KEYS: secretsKeys,
      ...fromGateway,
    },
    'file-storage': {
      ...behindGateway,
      ...kafkaUser('file-storage'),
      HTTP_PORT: String(ports['file-storage']),
      DB_SCHEMA: `${id}_files`,
      JOBCONFIG_SERVICE_URL: url('jobconfig'),
      ...fromGateway,
    },
    gateway: {
      ...behindGateway,
      HTTP_PORT: String(ports.gateway),
      AUTH_SERVICE_URL: url('auth'),
      JOBCONFIG_SERVICE_URL: url('jobconfig'),
      FILES_SERVICE_URL: url('file-storage'),
      // Tests and benchmarks hammer one platform from one address with one token: no rate limits.
      GATEWAY_RATE_LIMIT_PER_MINUTE: '0',
      GATEWAY_RATE_LIMIT_PER_IP_PER_MINUTE: '0',
    },
  };
  for (const name of jobconfigNames.slice(1))
    env[name] = { ...(env.jobconfig as Record<string, string>), HTTP_PORT: String(ports[name]) };
  for (const name of runnerNames) {
    env[name] = {
      ...common,
      ...kafkaUser('job-runner'),
      HTTP_PORT: String(ports[name]),
      RUNNER_ID: name,
      RUNNER_SLOTS: '2',
      SECRETS_ENCRYPTION_KEYS: secretsKeys,
      RUNNER_WORK_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'im-runner-')),
      // The test S3 server has one key pair; in production packages get a credential of their own.
      PACKAGE_S3_ENDPOINT: infra.s3.endpoint,
      PACKAGE_S3_ACCESS_KEY_ID: infra.s3.accessKeyId,
      PACKAGE_S3_SECRET_ACCESS_KEY: infra.s3.secretAccessKey,
    };
  }
  for (const [name, extra] of Object.entries(options.env ?? {})) {
    for (const target of name === '*' ? Object.keys(env) : [name]) env[target] = { ...env[target], ...extra };
  }
  const serviceOf = (name: string) =>
    name.startsWith('job-runner') ? 'job-runner' : name.startsWith('jobconfig') ? 'jobconfig' : name;

  // Setup steps, as the chart's Jobs run them: topics and ACLs (as the admin principal), then each
  // service's migrations.
  const setupEnv: Record<string, Record<string, string>> = {
    'create-topics': {
      ...(env.jobconfig as Record<string, string>),
      KAFKA_SASL_USERNAME: infra.kafkaSasl.username,
      KAFKA_SASL_PASSWORD: infra.kafkaSasl.password,
      KAFKA_ACL_AUTH_USER: infra.kafkaUser('auth').username,
      KAFKA_ACL_JOBCONFIG_USER: infra.kafkaUser('jobconfig').username,
      KAFKA_ACL_FILE_STORAGE_USER: infra.kafkaUser('file-storage').username,
      KAFKA_ACL_JOB_RUNNER_USER: infra.kafkaUser('job-runner').username,
      KAFKA_ACL_EVENTS_USER: infra.kafkaUser('events').username,
    },
  };
  const once = (service: string, command: string) => {
    const r = spawnSync(process.execPath, [...platformNodeOptions(), entry(service), command], {
      env: setupEnv[command] ?? env[service],
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status !== 0)
      throw new Error(`${service} ${command} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  };
  once('jobconfig', 'create-topics');
  for (const s of ['auth', 'jobconfig', 'file-storage']) once(s, 'migrate');

  const names = ['auth', ...jobconfigNames, 'file-storage', ...runnerNames, 'gateway'];
  const processes: Record<string, ChildProcess> = {};
  const outputs: Record<string, string> = {};
  const stopServices = async () => {
    const codes: Record<string, number | null> = {};
    await Promise.all(
      Object.entries(processes).map(
        ([name, c]) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) {
              codes[name] = c.exitCode;
              return resolve();
            }
            c.once('exit', (code) => {
              codes[name] = code;
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    return codes;
  };
  const spawnOne = (name: string) => {
    const child = spawn(process.execPath, [...platformNodeOptions(), entry(serviceOf(name))], {
      env: env[name],
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    outputs[name] ??= '';
    child.stdout?.on('data', (d: Buffer) => (outputs[name] += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (outputs[name] += d.toString()));
    processes[name] = child;
  };
  const waitReady = (name: string) =>
    waitFor(
      async () => {
        const c = processes[name] as ChildProcess;
        if (c.exitCode !== null) throw new Error(`${name} exited (${c.exitCode}):\n${outputs[name]}`);
        const res = await fetch(`${url(name)}/readyz`);
        return res.ok ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `${name} to be ready` },
    );
  const startServices = async () => {
    for (const name of names) spawnOne(name);
    try {
      for (const name of names) await waitReady(name);
    } catch (err) {
      await stopServices();
      throw new Error(
        `${(err as Error).message}\n${Object.entries(outputs)
          .map(([k, v]) => `--- ${k}\n${v}`)
          .join('\n')}`,
      );
    }
  };
  const kill = (name: string, signal: NodeJS.Signals = 'SIGTERM') => {
    const c = processes[name];
    if (!c) throw new Error(`no process ${name}`);
    return new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null)
        return resolve({ code: c.exitCode, signal: c.signalCode });
      c.once('exit', (code, sig) => resolve({ code, signal: sig }));
      c.kill(signal);
    });
  };
  const start = async (name: string) => {
    if (!env[name]) throw new Error(`no process ${name}`);
    const c = processes[name];
    if (c && c.exitCode === null && c.signalCode === null) throw new Error(`${name} is still running`);
    spawnOne(name);
    await waitReady(name);
  };
  await startServices();
  return {
    url: url('gateway'),
    urls: Object.fromEntries(Object.keys(ports).map((name) => [name, url(name)])),
    topicPrefix,
    adminPassword,
    privateKeyPem: keys.privateKey,
    internalToken,
    metricsToken,
    processes,
    output: (name) => outputs[name] ?? '',
    stopServices,
    startServices,
    kill,
    start,
    names,
    stop: async () => {
      await stopServices();
      fs.rmSync(keyDir, { recursive: true, force: true });
      for (const name of runnerNames) {
        const workDir = env[name]?.RUNNER_WORK_DIR;
        if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
      }
    },
  };
}
