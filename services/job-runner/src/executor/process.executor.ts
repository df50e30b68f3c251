import { logPackageError, type ExecutorLogger } from './executor.logger';
import type { ExecutorSpec } from './executor.protocol';
import type { ProcessDefinition } from './process-definition.parser';

/**
 * Runs the steps of a validated process in order. A failing step ends the process unless its
 * `onError` is `continue`. Returns whether the process succeeded.
 */
export async function runProcess(
  def: ProcessDefinition,
  spec: ExecutorSpec,
  logger: ExecutorLogger,
  announceStep: (name: string) => Promise<void>,
): Promise<boolean> {
  const n = def.steps.length;
  logger.info(`process ${def.name ? `'${def.name}' ` : ''}with ${n} step${n === 1 ? '' : 's'}`);
  for (const [i, step] of def.steps.entries()) {
    await announceStep(step.name);
    logger.info(`step ${i + 1}/${n} '${step.name}' (${step.type})`);
    const started = Date.now();
    try {
      await step.run({ spec, logger: logger.child(`step:${step.name}`) });
      logger.debug(`step '${step.name}' done in ${Date.now() - started} ms`);
    } catch (err) {
      if (step.onError === 'continue') {
        logPackageError(logger, `step '${step.name}' failed (onError: continue, going on): `, err, true);
        continue;
      }
      logPackageError(logger, `step '${step.name}' failed: `, err);
      return false;
    }
  }
  return true;
}
