export { createProgram, runCli, reportError, CliError } from './cli';
export { EXIT } from './exit-codes';
export { ConfigStore, configPath, type CliConfig } from './config.store';
export type { CliIo } from './io';
