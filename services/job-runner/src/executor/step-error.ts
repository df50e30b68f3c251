/** What a step did (rows read, …), as later steps see it in `when`. */
export type StepMetrics = Readonly<Record<string, unknown>>;

/**
 * A step failed for a reason its log line explains. Its own module, free of imports, so that code a
 * script job loads (package-file.resolver) does not pull in the step machinery.
 */
export class StepError extends Error {
  override name = 'StepError';
  /** What the step did before it failed (rows read, …): later steps see it in `when`. */
  metrics: StepMetrics | undefined;
}
