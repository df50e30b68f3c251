#!/usr/bin/env node
// `npm run dev:up`: the distributed platform on this machine. Starts PostgreSQL, Kafka and the S3
// server (scripts/infra), creates the topics, migrates each service's database (one database and
// role per service), and starts gateway, auth, jobconfig, file-storage and job-runner as separate
// processes with a log file each under .dev/logs. The gateway listens on PORT (default 8080).
// `npm run dev:down` stops the services by pid, then the infrastructure.
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useNode24 } from './runtime.mjs';

await useNode24();

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const devDir = join(root, '.dev');
const say = (m) => process.stdout.write(`[dev] ${m}\n`);
const fail = (m) => {
  process.stderr.write(`[dev] ${m}\n`);
  process.exit(1);
};
const services = ['auth', 'jobconfig', 'file-storage', 'job-runner', 'gateway'];

function readInfraEnv() {
  const file = join(process.env.IM_INFRA_DIR ?? join(root, '.infra'), 'env');
  const env = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2].replace(/^['"]|['"]$/g, '');
  }
  return env;
}

function isRunning(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function up() {
  const t0 = Date.now();
  if (
    spawnSync('bash', [join(root, 'scripts', 'infra', 'up.sh'), 'all'], { stdio: 'inherit' }).status !== 0
  ) {
    fail('the infrastructure did not start; see scripts/infra/README.md.');
  }
  if (!existsSync(join(root, 'services', 'gateway', 'dist', 'main.js')) || process.env.IM_DEV_BUILD !== '0') {
    say('building (tsc -b)...');
    if (spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' }).status !== 0)
      fail('the build failed.');
  }
  const infra = readInfraEnv();
  mkdirSync(join(devDir, 'logs'), { recursive: true });
  mkdirSync(join(devDir, 'pids'), { recursive: true });
  const keyDir = join(devDir, 'keys');
  if (!existsSync(join(keyDir, 'private.pem'))) {
    mkdirSync(keyDir, { recursive: true, mode: 0o700 });
    const k = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeFileSync(join(keyDir, 'private.pem'), k.privateKey, { mode: 0o600 });
    writeFileSync(join(keyDir, 'public.pem'), k.publicKey);
  }
  // The keyring of secure macro values, shared by jobconfig and the runner; made once, kept (mode 600).
  const secretsFile = join(keyDir, 'secrets-encryption-keys');
  if (!existsSync(secretsFile))
    writeFileSync(secretsFile, `dev1:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const secretsKeys = process.env.SECRETS_ENCRYPTION_KEYS ?? readFileSync(secretsFile, 'utf8').trim();
  // The internal token (gateway <-> services) and the metrics token (/metrics); made once, kept (mode 600).
  for (const name of ['internal-token', 'metrics-token'])
    if (!existsSync(join(keyDir, name)))
      writeFileSync(join(keyDir, name), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const internalToken = { INTERNAL_TOKEN_FILE: join(keyDir, 'internal-token') };
  const port = Number(process.env.PORT ?? 8080);
  const ports = {
    gateway: port,
    auth: port + 1,
    jobconfig: port + 2,
    'file-storage': port + 3,
    'job-runner': port + 5,
  };
  const url = (s) => `http://127.0.0.1:${ports[s]}`;
  const common = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? devDir,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    HTTP_HOST: '127.0.0.1',
    AUTH_JWKS_URL: `${url('auth')}/api/.well-known/jwks.json`,
    KAFKA_BROKERS: infra.KAFKA_BROKERS,
    S3_ENDPOINT: infra.S3_ENDPOINT,
    S3_REGION: infra.S3_REGION,
    S3_BUCKET: infra.S3_BUCKET,
    S3_ACCESS_KEY_ID: infra.S3_ACCESS_KEY,
    S3_SECRET_ACCESS_KEY: infra.S3_SECRET_KEY,
    S3_KEY_PREFIX: 'dev/',
    DB_CLIENT: 'postgres',
    METRICS_TOKEN_FILE: join(keyDir, 'metrics-token'),
  };
  // Each service connects to Kafka as its own principal (scripts/infra makes them; ACLs below).
  const kafkaUser = (svc) => ({
    KAFKA_SASL_MECHANISM: infra.KAFKA_SASL_MECHANISM,
    KAFKA_SASL_USERNAME: infra[`KAFKA_${svc}_USERNAME`],
    KAFKA_SASL_PASSWORD: infra[`KAFKA_${svc}_PASSWORD`],
  });
  const env = {
    auth: {
      ...common,
      ...kafkaUser('AUTH'),
      ...internalToken,
      HTTP_PORT: String(ports.auth),
      DB_URL: infra.AUTH_PG_URL,
      AUTH_JWT_PRIVATE_KEY_FILE: join(keyDir, 'private.pem'),
      ...(process.env.IM_ADMIN_PASSWORD ? { AUTH_ADMIN_PASSWORD: process.env.IM_ADMIN_PASSWORD } : {}),
    },
    jobconfig: {
      ...common,
      ...kafkaUser('JOBCONFIG'),
      ...internalToken,
      HTTP_PORT: String(ports.jobconfig),
      DB_URL: infra.JOBCONFIG_PG_URL,
      FILES_SERVICE_URL: url('file-storage'),
      KAFKA_TOPIC_PARTITIONS: '3',
      KAFKA_TOPIC_REPLICATION: '1',
      SECRETS_ENCRYPTION_KEYS: secretsKeys,
    },
    'file-storage': {
      ...common,
      ...kafkaUser('FILE_STORAGE'),
      ...internalToken,
      HTTP_PORT: String(ports['file-storage']),
      DB_URL: infra.FILES_PG_URL,
      JOBCONFIG_SERVICE_URL: url('jobconfig'),
    },
    'job-runner': {
      ...common,
      ...kafkaUser('JOB_RUNNER'),
      HTTP_PORT: String(ports['job-runner']),
      RUNNER_ID: 'dev-runner-1',
      RUNNER_WORK_DIR: join(devDir, 'work'),
      SECRETS_ENCRYPTION_KEYS: secretsKeys,
    },
    gateway: {
      ...common,
      ...internalToken,
      HTTP_PORT: String(ports.gateway),
      AUTH_SERVICE_URL: url('auth'),
      JOBCONFIG_SERVICE_URL: url('jobconfig'),
      FILES_SERVICE_URL: url('file-storage'),
    },
  };
  const main = (s) => join(root, 'services', s, 'dist', 'main.js');
  // Topics and ACLs are made by the admin principal, as the chart's create-topics Job does.
  const setupEnv = {
    'create-topics': {
      ...env.jobconfig,
      KAFKA_SASL_USERNAME: infra.KAFKA_SASL_USERNAME,
      KAFKA_SASL_PASSWORD: infra.KAFKA_SASL_PASSWORD,
      KAFKA_ACL_AUTH_USER: infra.KAFKA_AUTH_USERNAME,
      KAFKA_ACL_JOBCONFIG_USER: infra.KAFKA_JOBCONFIG_USERNAME,
      KAFKA_ACL_FILE_STORAGE_USER: infra.KAFKA_FILE_STORAGE_USERNAME,
      KAFKA_ACL_JOB_RUNNER_USER: infra.KAFKA_JOB_RUNNER_USERNAME,
      KAFKA_ACL_EVENTS_USER: infra.KAFKA_EVENTS_USERNAME,
    },
  };
  const { platformNodeOptions } = createRequire(import.meta.url)('../libs/config/dist/node-options.js');
  const nodeOptions = platformNodeOptions();
  const once = (s, cmd) => {
    say(`${s} ${cmd}...`);
    const r = spawnSync(process.execPath, [...nodeOptions, main(s), cmd], {
      env: setupEnv[cmd] ?? env[s],
      encoding: 'utf8',
    });
    if (r.status !== 0) fail(`${s} ${cmd} failed:\n${r.stdout}${r.stderr}`);
  };
  once('jobconfig', 'create-topics');
  for (const s of ['auth', 'jobconfig', 'file-storage']) once(s, 'migrate');

  for (const s of services) {
    const pidFile = join(devDir, 'pids', `${s}.pid`);
    if (existsSync(pidFile) && isRunning(Number(readFileSync(pidFile, 'utf8')))) {
      say(`${s} is running already (pid ${readFileSync(pidFile, 'utf8').trim()})`);
      continue;
    }
    const log = join(devDir, 'logs', `${s}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(process.execPath, [...nodeOptions, main(s)], {
      env: env[s],
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    child.unref();
    writeFileSync(pidFile, String(child.pid));
    say(`${s} started (pid ${child.pid}, port ${ports[s]}, log .dev/logs/${s}.log)`);
  }
  for (const s of services) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        if ((await fetch(`${url(s)}/readyz`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) fail(`${s} is not ready after 30 s; see .dev/logs/${s}.log.`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const authLog = readFileSync(join(devDir, 'logs', 'auth.log'), 'utf8');
  const generated = /shown only this once: (\S+)/.exec(authLog);
  say(
    `ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: the API is at http://127.0.0.1:${port}/api (docs: /api/docs)`,
  );
  if (generated)
    say(`admin password (generated on the first start; also in .dev/logs/auth.log): ${generated[1]}`);
  say(`metrics: Authorization: Bearer $(cat .dev/keys/metrics-token) on each port's /metrics`);
  say('stop everything with: npm run dev:down');
}

async function down() {
  for (const s of [...services].reverse()) {
    const pidFile = join(devDir, 'pids', `${s}.pid`);
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8'));
    if (isRunning(pid)) {
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + 30_000;
      while (isRunning(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (isRunning(pid)) process.kill(pid, 'SIGKILL');
      say(`${s} stopped (pid ${pid})`);
    }
    rmSync(pidFile, { force: true });
  }
  spawnSync('bash', [join(root, 'scripts', 'infra', 'down.sh')], { stdio: 'inherit' });
}

const cmd = process.argv[2];
if (cmd === 'up') await up();
else if (cmd === 'down') await down();
else fail('usage: node scripts/dev.mjs up|down');
