import { createJobFixture, type JobFixture } from '../job.fixture';
import { logStep } from './log.step';

let f: JobFixture;
beforeEach(async () => {
  f = await createJobFixture();
});
afterEach(async () => {
  await f.cleanup();
});

describe('log step', () => {
  it('writes its message at its level, INFO by default', async () => {
    for (const level of ['SEVERE', 'WARNING', 'INFO', 'DEBUG', undefined]) {
      const parsed = logStep.parse({ name: 'say', type: 'log', message: `at ${level ?? 'default'}`, level });
      if (!parsed.ok) throw new Error('expected a valid step');
      await parsed.step.run(f.context('say'));
    }
    expect(f.lines).toEqual([
      'SEVERE [step:say] at SEVERE',
      'WARNING [step:say] at WARNING',
      'INFO [step:say] at INFO',
      'DEBUG [step:say] at DEBUG',
      'INFO [step:say] at default',
    ]);
  });

  it('refuses a missing message, an unknown level and a misspelt field', () => {
    const r = logStep.parse({ name: 'say', type: 'log', mesage: 'x', level: 'LOUD' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => [i.path.join('.'), i.code])).toEqual([
      ['message', 'invalid_type'],
      ['level', 'invalid_value'],
      ['', 'unrecognized_keys'],
    ]);
  });

  it('substitutes macros in the message before it runs', async () => {
    expect((await f.run('steps:\n  - name: hi\n    type: log\n    message: "job $(JOB_ID)"\n')).ok).toBe(
      true,
    );
    expect(f.lines).toContain('INFO [step:hi] job job-1');
  });
});
