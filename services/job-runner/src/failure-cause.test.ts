import { outcomeOf, type FailureCause } from './failure-cause';

describe('outcomeOf', () => {
  it('maps success to FINISHED with return code 0', () => {
    expect(outcomeOf({ kind: 'finished' })).toEqual({ status: 'FINISHED', reason: null, returnCode: 0 });
  });

  it.each<[FailureCause, string, string | null]>([
    ['package-failed', 'ERROR', null],
    ['timeout', 'FAILED', 'timeout'],
    ['stopped-by-user', 'FAILED', 'stopped-by-user'],
    ['package-unusable', 'FAILED', 'package-unusable'],
    ['runner-lost', 'FAILED', 'runner-lost'],
    ['internal-error', 'FAILED', 'internal-error'],
  ])('maps %s to %s (%s)', (cause, status, reason) => {
    expect(outcomeOf({ kind: 'failed', cause, returnCode: 7 })).toEqual({ status, reason, returnCode: 7 });
  });
});
