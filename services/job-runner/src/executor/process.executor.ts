import { errorMessage, logPackageError, type ExecutorLogger } from './executor.logger';
import type { ExecutorSpec } from './executor.protocol';
import { describeJsonataError, truthy } from './jsonata.expression';
import type { ObjectStorageProvider } from './object-storage.provider';
import type { ProcessLibrary } from './process.loader';
import type { ProcessDefinition } from './process-definition.parser';
import {
  JobFailedError,
  StepError,
  type JobServices,
  type RunnableStep,
  type StepContext,
  type StepMetrics,
} from './step.registry';

/** Subprocesses may nest this deep (the entry point's process is level 0). */
export const MAX_SUBPROCESS_DEPTH = 8;

export type StepStatus = 'succeeded' | 'failed' | 'skipped';

/** What `when` sees of an earlier step: `steps.<name>.status`, `.rowsRead`, `.error`, … */
export interface StepRecord {
  status: StepStatus;
  [metric: string]: unknown;
}

export interface ProcessRunOptions {
  spec: ExecutorSpec;
  /** The executor's logger (source `executor`); steps log under `step:<path>`. */
  logger: ExecutorLogger;
  /** Tells the runner which step runs now (its path). */
  announceStep(path: string): Promise<void>;
  /** The validated process files, for subprocess steps. */
  library: ProcessLibrary;
  objectStorage: ObjectStorageProvider;
}

/** A step of a process failed (and the process with it): `path` names the step, `cause` says why. */
export class StepFailure extends Error {
  override name = 'StepFailure';
  constructor(
    readonly path: string,
    override readonly cause: unknown,
  ) {
    super(`step '${path}' failed: ${errorMessage(cause)}`);
  }

  /** Whether it ends the job whatever `onError` says (a `fail` step, nesting too deep). */
  get endsJob(): boolean {
    return this.cause instanceof JobFailedError || (this.cause instanceof StepFailure && this.cause.endsJob);
  }
}

/** The innermost failure: the step that really failed and its own error. */
function innermost(f: StepFailure): StepFailure {
  return f.cause instanceof StepFailure ? innermost(f.cause) : f;
}

interface Level {
  depth: number;
  /** `outer/` for steps of a subprocess run by step `outer`; '' at the top. */
  prefix: string;
  /** The process files from the entry point down to this one, for messages. */
  chain: readonly string[];
}

class ProcessRunner {
  constructor(private readonly o: ProcessRunOptions) {}

  private services(level: Level): JobServices {
    return {
      objectStorage: (bucket) => this.o.objectStorage.get(bucket),
      runSubprocess: async (file, caller) => {
        const def = await this.o.library.get(file);
        const chain = [...level.chain, def.label];
        if (level.depth + 1 > MAX_SUBPROCESS_DEPTH) {
          throw new JobFailedError(
            `subprocesses nest deeper than ${MAX_SUBPROCESS_DEPTH} levels, refused (${chain.join(' → ')}); is a process running itself?`,
          );
        }
        const steps = await this.runSteps(def, {
          depth: level.depth + 1,
          prefix: `${caller.path}/`,
          chain,
        });
        return { steps };
      },
    };
  }

  private async evaluateWhen(step: RunnableStep, steps: Record<string, StepRecord>): Promise<boolean> {
    if (!step.when) return true;
    try {
      return truthy(await step.when.evaluate({ macros: this.o.spec.macros, steps }));
    } catch (err) {
      throw new StepError(`its condition (when) failed: ${describeJsonataError(err)}`);
    }
  }

  /**
   * Runs the steps of a process in order and returns what each did. A failing step throws a
   * StepFailure, unless its `onError` is `continue` (then the next step runs).
   */
  async runSteps(def: ProcessDefinition, level: Level): Promise<Record<string, StepRecord>> {
    const { logger } = this.o;
    const n = def.steps.length;
    const what = `${n} step${n === 1 ? '' : 's'}`;
    if (level.depth === 0) logger.info(`process ${def.name ? `'${def.name}' ` : ''}with ${what}`);
    else
      logger.info(
        `subprocess ${def.label}${def.name ? ` ('${def.name}')` : ''} with ${what}, run by step '${level.prefix.slice(0, -1)}'`,
      );
    const services = this.services(level);
    const records: Record<string, StepRecord> = {};
    for (const [i, step] of def.steps.entries()) {
      const path = `${level.prefix}${step.name}`;
      const label = `step ${i + 1}/${n} '${path}' (${step.type})`;
      const started = Date.now();
      try {
        if (!(await this.evaluateWhen(step, records))) {
          records[step.name] = { status: 'skipped' };
          logger.info(`${label} skipped: its condition (when) is false`);
          continue;
        }
        await this.o.announceStep(path);
        logger.info(label);
        const ctx: StepContext = {
          spec: this.o.spec,
          logger: logger.child(`step:${path}`),
          path,
          depth: level.depth,
          services,
        };
        const metrics: StepMetrics = await step.run(ctx);
        records[step.name] = { durationMs: Date.now() - started, ...metrics, status: 'succeeded' };
        logger.debug(`step '${path}' done in ${Date.now() - started} ms`);
      } catch (err) {
        const metrics = err instanceof StepError ? err.metrics : undefined;
        records[step.name] = {
          durationMs: Date.now() - started,
          ...metrics,
          status: 'failed',
          error: errorMessage(err),
        };
        const failure = err instanceof StepFailure ? err : undefined;
        const endsJob = err instanceof JobFailedError || (failure?.endsJob ?? false);
        if (step.onError === 'continue' && !endsJob) {
          logPackageError(logger, `step '${path}' failed (onError: continue, going on): `, err, true);
          continue;
        }
        throw new StepFailure(path, err);
      }
    }
    return records;
  }
}

/**
 * Runs a validated process (the entry point's) and, through `subprocess` steps, the processes it
 * runs. Steps run in order; a step whose `when` is falsy is skipped; a failing step ends the process
 * unless its `onError` is `continue` (a `fail` step ends it anyway). Logs the failure and returns
 * whether the process succeeded.
 */
export async function runProcess(def: ProcessDefinition, o: ProcessRunOptions): Promise<boolean> {
  try {
    await new ProcessRunner(o).runSteps(def, { depth: 0, prefix: '', chain: [def.label] });
    return true;
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    // A job-ending failure is named by the step that ended it; others by the top-level step, with
    // the nested steps' messages chained.
    const f = err.endsJob ? innermost(err) : err;
    logPackageError(o.logger, `step '${f.path}' failed: `, f.cause);
    return false;
  }
}
