import { createAuthModule } from '@im/auth';
import { createFileStorageModule } from '@im/file-storage';
import { createApp as createGateway } from '@im/gateway';
import { createJobConfigModule, type JobConfigModule } from '@im/jobconfig';
import { createJobRunnerModule } from '@im/job-runner';
import { loadOrCreateKeyringFile, loadOrCreateTokenFile } from '@im/config';
import { createDb, type Knex } from '@im/db';
import { createAuthenticator, jwksOf, serve } from '@im/http-kit';
import { ShutdownManager } from '@im/lifecycle';
import type { Logger } from '@im/logging';
import { InProcessEventBus } from '@im/messaging';
import { LocalObjectStorage } from '@im/storage';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StandaloneConfig } from './config';
import { loadOrCreateKeys } from './keys';
import { productInfo } from './product-info';

export interface RunningPlatform {
  url: string;
  /** Set on the first start when no admin password was configured; shown once. */
  generatedAdminPassword: string | undefined;
  shutdown: ShutdownManager;
}

/**
 * All five services in one process on the embedded adapters: SQLite per service, a local directory
 * for objects, the in-process bus. The same service modules run on PostgreSQL, S3 and Kafka when each
 * runs as its own process.
 */
export async function startPlatform(config: StandaloneConfig, logger: Logger): Promise<RunningPlatform> {
  const dir = (...p: string[]) => path.join(config.dataDir, ...p);
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const shutdown = new ShutdownManager(logger, config.shutdownGraceMs + 5000);

  const keys = loadOrCreateKeys(dir('keys'));
  // Secure macro values are encrypted at rest: SECRETS_ENCRYPTION_KEYS, or a key of the data dir made
  // on the first start (mode 600; a new entry put first in that file rotates it).
  const secrets = config.secrets ?? loadOrCreateKeyringFile(dir('keys', 'secrets-encryption-keys')).keyring;
  // GET /metrics wants this bearer token: METRICS_TOKEN, or one made on the first start (mode 600).
  // One process, no internal HTTP: no internal token.
  const metricsToken = config.metricsToken ?? loadOrCreateTokenFile(dir('keys', 'metrics-token')).token;
  // One process: the key set is in memory, checked by the same passport-jwt + JWKS path as the services.
  const authenticate = createAuthenticator({ jwks: jwksOf([keys.publicKey, ...keys.previousPublicKeys]) });
  const storage = await LocalObjectStorage.open(dir('objects'));
  const bus = new InProcessEventBus(logger.child({ component: 'bus' }));
  const dbs: Knex[] = [];
  const sqlite = (name: string) => {
    const db = createDb({ client: 'sqlite', filename: dir('db', `${name}.sqlite`) });
    dbs.push(db);
    return db;
  };
  const publicBaseUrl = config.http.publicBaseUrl ? { publicBaseUrl: config.http.publicBaseUrl } : {};

  const auth = createAuthModule({
    db: sqlite('auth'),
    logger,
    bus,
    authenticate,
    settings: {
      jwtPrivateKey: keys.privateKey,
      jwtPreviousPublicKeys: keys.previousPublicKeys,
      accessTokenTtlSeconds: config.auth.accessTokenTtl,
      refreshTokenTtlSeconds: config.auth.refreshTokenTtl,
      maxFailedLogins: config.auth.maxFailedLogins,
      lockoutSeconds: config.auth.lockoutSeconds,
      loginDelay: config.auth.loginDelay,
      ipThrottle: config.auth.ipThrottle,
    },
    ...publicBaseUrl,
  });

  // The two synchronous questions between services are plain calls here (internal HTTP when split).
  const late: { jobconfig?: JobConfigModule } = {};
  const files = createFileStorageModule({
    db: sqlite('file-storage'),
    logger,
    bus,
    storage,
    authenticate,
    maxBytes: config.files.maxBytes,
    access: {
      assertAccess: (p, id) => {
        if (!late.jobconfig) throw new Error('jobconfig is not wired yet');
        return late.jobconfig.configs.assertAccess(p, id);
      },
    },
    ...publicBaseUrl,
  });
  const jobconfig = createJobConfigModule({
    db: sqlite('jobconfig'),
    logger,
    bus,
    storage,
    files: {
      exists: (_p, id, key) => files.files.exists(id, key),
      entryPoints: (_p, id, key) => files.files.entryPoints(id, key),
    },
    authenticate,
    scheduler: config.scheduler,
    secrets,
    ...publicBaseUrl,
  });
  late.jobconfig = jobconfig;

  const runner = createJobRunnerModule({
    bus,
    storage,
    logger,
    workDir: dir('work'),
    slots: config.runner.slots,
    warmExecutors: config.runner.warmExecutors,
    sandbox: config.runner.sandbox,
    isolation: config.runner.isolation,
    memoryMb: config.runner.memoryMb,
    runnerId: `standalone-${os.hostname()}-${process.pid}`,
    secrets,
  });

  for (const m of [auth, files, jobconfig]) await m.migrate();
  const admin = await auth.service.bootstrapAdmin(config.adminPassword);

  // Jobs left over from the previous run: a fresh in-process runner owns nothing yet.
  fs.rmSync(dir('work'), { recursive: true, force: true });
  await runner.start();
  await auth.startAudit();
  await files.start();
  await jobconfig.start();
  await jobconfig.jobs.recoverAfterRestart();

  const app = createGateway({
    logger,
    ...config.gateway,
    info: productInfo(),
    authenticate,
    metricsToken,
    upstreams: [auth.router, files.router, jobconfig.router],
    readiness: {
      checks: { storage: () => storage.ping() },
      isDraining: () => shutdown.isShuttingDown,
    },
    ...publicBaseUrl,
  });
  const { server } = await serve(app, config.http.port, config.http.host, shutdown);
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}`;

  shutdown.register('stop-intake', 'runner', () => runner.stop(config.shutdownGraceMs));
  shutdown.register('stop-intake', 'scheduler', () => jobconfig.scheduler.stop());
  shutdown.register('drain', 'consumers', async () => {
    await jobconfig.stop();
    await files.stop();
    await auth.stopAudit();
  });
  shutdown.register('close-clients', 'bus', () => bus.close());
  shutdown.register('close-clients', 'databases', async () => {
    await Promise.all(dbs.map((db) => db.destroy()));
  });

  return { url, generatedAdminPassword: admin.generatedPassword, shutdown };
}
