import { runMain } from '@im/config';
import { ShutdownManager } from '@im/lifecycle';
import { createLogger } from '@im/logging';
import { initObservability } from '@im/observability';
import { KafkaEventBus } from '@im/messaging';
import { S3ObjectStorage } from '@im/storage';
import type { Server } from 'node:http';
import { createApp, createJobRunnerModule } from './app';
import { loadConfig } from './config';

/** The job runner as its own process, on Kafka and S3. The only file that reads process.env. */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel, name: 'job-runner' });
  const bus = new KafkaEventBus(logger.child({ component: 'bus' }), config.kafka);
  const storage = new S3ObjectStorage(config.s3);
  // The deadline covers the drain, the SIGTERM→SIGKILL grace of the last jobs and their uploads.
  const shutdown = new ShutdownManager(logger, config.runner.graceMs + config.runner.killGraceMs + 10_000);
  // Metrics on GET /metrics of this port; traces as OTEL_* says (docs/observability.md).
  const telemetry = initObservability('job-runner', process.env);
  shutdown.register('close-clients', 'telemetry', () => telemetry.shutdown());

  const module = createJobRunnerModule({
    bus,
    storage,
    logger,
    workDir: config.runner.workDir,
    slots: config.runner.slots,
    runnerId: config.runner.id,
    logFlushMs: config.runner.logFlushMs,
    killGraceMs: config.runner.killGraceMs,
    heartbeatMs: config.runner.heartbeatMs,
    keepWorkDirs: config.runner.keepWorkDirs,
    warmExecutors: config.runner.warmExecutors,
    unpackLimits: config.runner.unpackLimits,
    sandbox: config.runner.sandbox,
    isolation: config.runner.isolation,
    memoryMb: config.runner.memoryMb,
    packageCacheBytes: config.runner.packageCacheBytes,
    ...(config.runner.packageObjectStorage
      ? { packageObjectStorage: config.runner.packageObjectStorage }
      : {}),
    executorSearchPath: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    secrets: config.secrets,
  });
  let started = false;
  const app = createApp({
    logger,
    storage,
    bus,
    isDraining: () => shutdown.isShuttingDown,
    isStarted: () => started,
    metricsToken: config.http.metricsToken,
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.http.port, config.http.host, () => resolve(s));
    s.once('error', reject);
  });

  shutdown.register('stop-intake', 'job-requests', () => module.runner.stopIntake());
  shutdown.register('drain', 'jobs', () => module.stop(config.runner.graceMs));
  shutdown.register('close-clients', 'bus', () => bus.close());
  shutdown.register('close-clients', 'storage', () => storage.close());
  shutdown.register(
    'close-clients',
    'http',
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  shutdown.installSignalHandlers();

  await module.start();
  started = true;
  logger.info(
    {
      runnerId: config.runner.id,
      concurrency: config.runner.slots,
      sandbox: config.runner.sandbox,
      isolation: config.runner.isolation ? config.runner.isolation.network : 'none',
      httpPort: config.http.port,
    },
    'job runner is ready',
  );
}

runMain('job-runner', main);
