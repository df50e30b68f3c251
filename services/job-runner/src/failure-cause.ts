import type { FailureReason, JobProgress } from '@im/contracts';

/**
 * Why an attempt did not finish successfully. Every cause maps to a status through the one
 * exhaustive switch below, so a new cause forces a decision between "the package failed" (ERROR)
 * and "the platform failed" (FAILED with a reason).
 */
export type FailureCause =
  | 'package-failed'
  | 'timeout'
  | 'stopped-by-user'
  | 'package-unusable'
  | 'runner-lost'
  | 'resource-limit'
  | 'internal-error';

/** What an attempt came to: success, or a cause; returnCode when the entry point exited. */
export type JobResult =
  { kind: 'finished' } | { kind: 'failed'; cause: FailureCause; returnCode: number | null };

export interface TerminalOutcome {
  status: Extract<JobProgress['status'], 'FINISHED' | 'ERROR' | 'FAILED'>;
  reason: FailureReason | null;
  returnCode: number | null;
}

export function outcomeOf(result: JobResult): TerminalOutcome {
  if (result.kind === 'finished') return { status: 'FINISHED', reason: null, returnCode: 0 };
  const { cause, returnCode } = result;
  switch (cause) {
    case 'package-failed':
      return { status: 'ERROR', reason: null, returnCode };
    case 'timeout':
      return { status: 'FAILED', reason: 'timeout', returnCode };
    case 'stopped-by-user':
      return { status: 'FAILED', reason: 'stopped-by-user', returnCode };
    case 'package-unusable':
      return { status: 'FAILED', reason: 'package-unusable', returnCode };
    case 'runner-lost':
      return { status: 'FAILED', reason: 'runner-lost', returnCode };
    case 'resource-limit':
      return { status: 'FAILED', reason: 'resource-limit', returnCode };
    case 'internal-error':
      return { status: 'FAILED', reason: 'internal-error', returnCode };
    default: {
      const unhandled: never = cause;
      throw new Error(`Unhandled failure cause: ${String(unhandled)}`);
    }
  }
}
