import { runMain } from '@im/config';
import { createLogger } from '@im/logging';
import { initObservability } from '@im/observability';
import { loadConfig } from './config';
import { startPlatform } from './platform';

/** Standalone mode: the whole platform in one process. The only file that reads process.env. */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel, name: 'standalone' });
  // One /metrics for the whole process (on its port, outside /api); traces as OTEL_* says.
  const telemetry = initObservability('integration-manager', process.env);
  const platform = await startPlatform(config, logger);
  platform.shutdown.register('close-clients', 'telemetry', () => telemetry.shutdown());
  platform.shutdown.installSignalHandlers();
  if (platform.generatedAdminPassword) {
    const line = '='.repeat(72);
    process.stdout.write(
      `${line}\nFirst start: created the administrator "admin".\n` +
        `Its password, shown only this once (store it now): ${platform.generatedAdminPassword}\n` +
        `Set IM_ADMIN_PASSWORD on the first start to choose it instead.\n${line}\n`,
    );
  }
  logger.info({ url: platform.url, dataDir: config.dataDir }, 'integration-manager is ready');
  process.stdout.write(
    `integration-manager is running at ${platform.url}/api (API docs: ${platform.url}/api/docs; web console: ${platform.url}/ui; data: ${config.dataDir})\n`,
  );
}

runMain('integration-manager', main);
