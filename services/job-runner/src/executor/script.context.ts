import type { PackageLogger } from './executor.logger';
import type { ExecutorSpec } from './executor.protocol';

/** What a package's script function receives (a `script` step or a script entry point). */
export interface ScriptContext {
  jobId: string;
  jobConfigId: string;
  /** Every macro by key (built-ins included). */
  macros: Readonly<Record<string, string>>;
  logger: PackageLogger;
  /** Where the package is unpacked. */
  inputDir: string;
  /** Files written here become the job's output files. */
  outputDir: string;
}

export function createScriptContext(spec: ExecutorSpec, logger: PackageLogger): ScriptContext {
  return Object.freeze({
    jobId: spec.jobId,
    jobConfigId: spec.jobConfigId,
    macros: Object.freeze({ ...spec.macros }),
    logger: Object.freeze({
      info: (...a: unknown[]) => logger.info(...a),
      warn: (...a: unknown[]) => logger.warn(...a),
      error: (...a: unknown[]) => logger.error(...a),
      debug: (...a: unknown[]) => logger.debug(...a),
    }),
    inputDir: spec.specDir,
    outputDir: spec.outDir,
  });
}
