/** The exit codes of imctl (docs/cli.md). */
export const EXIT = {
  OK: 0,
  /** `run --wait/--follow`: the job ended ERROR (the package reported an error). */
  JOB_ERROR: 1,
  /** `run --wait/--follow`: the job ended FAILED or CANCELLED. */
  JOB_FAILED: 2,
  /** The platform refused the request (a problem+json answer, 4xx or 5xx). */
  REFUSED: 3,
  /** Not logged in, or the session can no longer be refreshed: run `imctl login`. */
  NOT_LOGGED_IN: 4,
  /** The platform could not be reached. */
  UNREACHABLE: 5,
  /** Wrong usage: an unknown command or option, a missing argument. */
  USAGE: 64,
  /** A bug or an unexpected local failure (a file that cannot be read, …). */
  INTERNAL: 70,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
