import {
  infraEnv,
  startDistributed,
  startStandalone,
  type DistributedPlatform,
  type PlatformProcess,
} from '@im/testing';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A platform under attack, with what the attacker's test knows of it from outside. */
export interface AttackedPlatform {
  readonly name: 'standalone' | 'distributed';
  readonly url: string;
  readonly adminPassword: string;
  /** Planted in every platform process's environment: found in a job's report, it proves a read of it. */
  readonly canary: string;
  /** Host pids of the process(es) that run jobs (standalone: the whole platform). */
  runnerPids(): number[];
  /** Whether every runner process is still alive. */
  runnersAlive(): boolean;
  /** What the runner processes printed. */
  runnerOutput(): string;
  /** A fragment of the runner's command line, to recognise it in /proc. */
  readonly runnerMain: string;
  /** The runner's work dir (every job's directory is under it). */
  readonly workDir: string;
  /** Files of the platform a job must not read: keys, databases, credentials. */
  readonly secretFiles: string[];
  /** Directories where the platform keeps what no job may list. */
  readonly privateDirs: string[];
  /** TCP ports of the platform and its infrastructure, by name. */
  readonly ports: Port[];
  /** Each platform process's own base URL (standalone: the one). */
  readonly serviceUrls: Record<string, string>;
  /** The distributed platform's Kafka brokers and topic prefix. */
  readonly kafka?: { brokers: string[]; topicPrefix: string };
  stop(): Promise<void>;
}

/** A TCP port and the protocol it speaks (the attack talks it, to tell the service from a proxy). */
export interface Port {
  name: string;
  port: number;
  kind: 'http' | 'kafka' | 'postgres';
  /** HTTP: the path asked, and a part of the service's answer that no other server gives. */
  path?: string;
  expect?: string;
}

/** A service of the platform: its /healthz. */
const service = (name: string, url: string): Port => ({
  name,
  port: portOf(url),
  kind: 'http',
  path: '/healthz',
  expect: '"status":"ok"',
});

const ADMIN_PASSWORD = 'attacks-admin-password-123';
const portOf = (url: string) => Number(new URL(url).port);

/** Ports of the test infrastructure a job must not reach (broker, database, object storage). */
function infraPorts(): Port[] {
  const infra = infraEnv();
  return [
    ...infra.kafkaBrokers.map((b) => ({
      name: 'kafka',
      port: Number(b.split(':').pop()),
      kind: 'kafka' as const,
    })),
    { name: 'postgresql', port: Number(new URL(infra.pgUrl).port || 5432), kind: 'postgres' },
    { name: 's3', port: portOf(infra.s3.endpoint), kind: 'http', path: '/', expect: 'x-amz-request-id' },
  ];
}

export async function attackStandalone(env: Record<string, string>): Promise<AttackedPlatform> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-attacks-'));
  const canary = `canary-${randomBytes(8).toString('hex')}`;
  const p: PlatformProcess = await startStandalone(
    {
      IM_DATA_DIR: dataDir,
      IM_ADMIN_PASSWORD: ADMIN_PASSWORD,
      IM_ATTACKS_CANARY: canary,
      JOBS_CONCURRENCY: '6',
      ...env,
    },
    60_000,
  );
  const alive = () => p.child.exitCode === null && p.child.signalCode === null;
  return {
    name: 'standalone',
    url: p.url,
    adminPassword: ADMIN_PASSWORD,
    canary,
    runnerPids: () => [p.child.pid as number],
    runnersAlive: alive,
    runnerOutput: () => p.output(),
    runnerMain: path.join('standalone', 'dist', 'main.js'),
    workDir: path.join(dataDir, 'work'),
    secretFiles: [
      path.join(dataDir, 'keys', 'jwt-private.pem'),
      path.join(dataDir, 'keys', 'secrets-encryption-keys'),
      path.join(dataDir, 'db', 'auth.sqlite'),
      path.join(dataDir, 'db', 'jobconfig.sqlite'),
    ],
    privateDirs: [dataDir, path.join(dataDir, 'keys'), path.join(dataDir, 'work')],
    // Standalone has no broker, but the test infrastructure is on the same host.
    ports: [service('api', p.url), ...infraPorts()],
    serviceUrls: { standalone: p.url },
    stop: async () => {
      await p.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function attackDistributed(env: Record<string, string>): Promise<AttackedPlatform> {
  const canary = `canary-${randomBytes(8).toString('hex')}`;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-attacks-runner-'));
  const d: DistributedPlatform = await startDistributed({
    env: {
      '*': { IM_ATTACKS_CANARY: canary, ...env },
      'job-runner-1': { RUNNER_SLOTS: '6', RUNNER_WORK_DIR: workDir },
    },
  });
  const runner = () => d.processes['job-runner-1'];
  const infraEnvFile = process.env.IM_INFRA_DIR ? [path.join(process.env.IM_INFRA_DIR, 'env')] : [];
  return {
    name: 'distributed',
    url: d.url,
    adminPassword: d.adminPassword,
    canary,
    runnerPids: () => [runner()?.pid as number],
    runnersAlive: () => runner()?.exitCode === null && runner()?.signalCode === null,
    runnerOutput: () => d.output('job-runner-1'),
    runnerMain: path.join('job-runner', 'dist', 'main.js'),
    workDir,
    // The infrastructure's env file holds the database and object storage credentials.
    secretFiles: infraEnvFile,
    privateDirs: [workDir],
    ports: [...Object.entries(d.urls).map(([name, url]) => service(name, url)), ...infraPorts()],
    serviceUrls: d.urls,
    kafka: { brokers: infraEnv().kafkaBrokers, topicPrefix: d.topicPrefix },
    stop: async () => {
      await d.stop();
      fs.rmSync(workDir, { recursive: true, force: true });
    },
  };
}
