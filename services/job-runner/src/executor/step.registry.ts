import { z } from '@im/contracts';
import { StepError, type StepMetrics } from './step-error';
import type { ObjectStorage } from '@im/storage';
import type { ExecutorLogger } from './executor.logger';
import type { ExecutorSpec } from './executor.protocol';
import { JsonataExpression, type CompiledExpression } from './jsonata.expression';

export const OnError = z.enum(['fail', 'continue']);
export type OnError = z.infer<typeof OnError>;

/** The fields every step has, whatever its type. */
export const StepCommon = z.object({
  name: z
    .string()
    .min(1)
    .refine((n) => !n.includes('/'), "must not contain '/' (it separates the names of nested steps)"),
  type: z.string().min(1),
  onError: OnError.default('fail'),
  /**
   * JSONata, evaluated against `{ macros, steps }` just before the step would run; a falsy result
   * skips the step.
   */
  when: JsonataExpression.optional(),
});
const COMMON_KEYS: ReadonlySet<string> = new Set(Object.keys(StepCommon.shape));

/** Job-wide services a step may use; the executor provides them. */
export interface JobServices {
  /** The object storage of a bucket, opened once per job. Throws a StepError when there is none. */
  objectStorage(bucket: string): Promise<ObjectStorage>;
  /** Runs another process of the package (a `.process` file, relative to the package) inside a step. */
  runSubprocess(file: string, caller: StepContext): Promise<StepMetrics>;
}

export interface StepContext {
  spec: ExecutorSpec;
  /** Lines under the source `step:<path>`. */
  logger: ExecutorLogger;
  /** The step's name, prefixed by its callers' inside a subprocess: `load` or `nightly/load`. */
  path: string;
  /** How deep in subprocesses the step runs: 0 in the entry point's process. */
  depth: number;
  services: JobServices;
}

/**
 * What a step reports about its run (rows read and written, rows affected, HTTP status, …). It is
 * logged nowhere by itself; later steps see it in `when` as `steps.<name>.<field>`.
 */
export type { StepMetrics } from './step-error';

/** A validated step, bound to its handler, ready to run. */
export interface RunnableStep {
  readonly name: string;
  readonly type: string;
  readonly onError: OnError;
  readonly when: CompiledExpression | undefined;
  /** Other process files (relative to the package) the step runs: validated before the job starts. */
  readonly includes: readonly string[];
  run(ctx: StepContext): Promise<StepMetrics>;
}

export type StepParseResult =
  { ok: true; step: RunnableStep } | { ok: false; issues: readonly z.core.$ZodIssue[] };

/**
 * One step type. The registry is a `Record<type, StepHandler>`; a new type is one more
 * {@link defineStep} call and one more entry.
 */
export interface StepHandler {
  readonly type: string;
  /** Validates one step (the common fields and this type's own); nothing runs here. */
  parse(raw: Record<string, unknown>): StepParseResult;
}

export type StepRegistry = Readonly<Record<string, StepHandler>>;

export interface StepOptions<C> {
  /** The process files a validated step runs (subprocess), so they are validated up front. */
  includes?(config: C): readonly string[];
}

/**
 * Defines a step type from the schema of its own fields (use `z.strictObject` so a misspelt field is
 * an error, not silently ignored) and the function that runs a validated step. Expensive
 * preparation (compiling expressions) belongs in the schema's transforms: it runs once, at parse
 * time, and its errors name the step and field before any step runs.
 */
export function defineStep<S extends z.ZodType<object>>(
  type: string,
  fields: S,
  run: (
    config: z.output<S>,
    common: z.output<typeof StepCommon>,
    ctx: StepContext,
  ) => Promise<StepMetrics | void>,
  options: StepOptions<z.output<S>> = {},
): StepHandler {
  return {
    type,
    parse(raw) {
      const own: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(raw)) if (!COMMON_KEYS.has(k)) own[k] = v;
      const common = StepCommon.safeParse(raw);
      const config = fields.safeParse(own);
      if (!common.success || !config.success) {
        return {
          ok: false,
          issues: [
            ...(common.success ? [] : common.error.issues),
            ...(config.success ? [] : config.error.issues),
          ],
        };
      }
      const c = common.data;
      const cfg = config.data;
      return {
        ok: true,
        step: {
          name: c.name,
          type: c.type,
          onError: c.onError,
          when: c.when,
          includes: options.includes?.(cfg) ?? [],
          run: async (ctx) => (await run(cfg, c, ctx)) ?? {},
        },
      };
    },
  };
}

export function createStepRegistry(handlers: readonly StepHandler[]): StepRegistry {
  const out: Record<string, StepHandler> = {};
  for (const h of handlers) {
    if (out[h.type]) throw new Error(`Step type '${h.type}' is registered twice.`);
    out[h.type] = h;
  }
  return out;
}

/** An error a step reports about the package (not the executor): its message goes to the log. */
export { StepError } from './step-error';

/** `err` as a StepError carrying `metrics` (a new one, with `err` as its cause, if it is none). */
export function failedWith(err: unknown, metrics: StepMetrics): StepError {
  const e =
    err instanceof StepError
      ? err
      : new StepError(err instanceof Error ? err.message || err.name : String(err), { cause: err });
  e.metrics = metrics;
  return e;
}

/**
 * Ends the job whatever the failing step's `onError` says (the `fail` step, a subprocess nested too
 * deep). It passes through subprocesses up to the entry point's process.
 */
export class JobFailedError extends StepError {
  override name = 'JobFailedError';
}
