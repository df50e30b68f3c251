import { z } from '@im/contracts';
import type { ExecutorLogger } from './executor.logger';
import type { ExecutorSpec } from './executor.protocol';

export const OnError = z.enum(['fail', 'continue']);
export type OnError = z.infer<typeof OnError>;

/** The fields every step has, whatever its type. */
export const StepCommon = z.object({
  name: z.string().min(1),
  type: z.string().min(1),
  onError: OnError.default('fail'),
});
const COMMON_KEYS: ReadonlySet<string> = new Set(Object.keys(StepCommon.shape));

export interface StepContext {
  spec: ExecutorSpec;
  /** Lines under the source `step:<name>`. */
  logger: ExecutorLogger;
}

/** A validated step, bound to its handler, ready to run. */
export interface RunnableStep {
  readonly name: string;
  readonly type: string;
  readonly onError: OnError;
  run(ctx: StepContext): Promise<void>;
}

export type StepParseResult =
  { ok: true; step: RunnableStep } | { ok: false; issues: readonly z.core.$ZodIssue[] };

/**
 * One step type. The registry is a `Record<type, StepHandler>`; a new type (transform, sql, http)
 * is one more {@link defineStep} call and one more entry.
 */
export interface StepHandler {
  readonly type: string;
  /** Validates one step (the common fields and this type's own); nothing runs here. */
  parse(raw: Record<string, unknown>): StepParseResult;
}

export type StepRegistry = Readonly<Record<string, StepHandler>>;

/**
 * Defines a step type from the schema of its own fields (use `z.strictObject` so a misspelt field is
 * an error, not silently ignored) and the function that runs a validated step.
 */
export function defineStep<S extends z.ZodType<object>>(
  type: string,
  fields: S,
  run: (config: z.output<S>, common: z.output<typeof StepCommon>, ctx: StepContext) => Promise<void>,
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
        step: { name: c.name, type: c.type, onError: c.onError, run: (ctx) => run(cfg, c, ctx) },
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
export class StepError extends Error {
  override name = 'StepError';
}
