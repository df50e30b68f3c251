import { createJobFixture, type JobFixture } from '../job.fixture';
import { JobFailedError } from '../step.registry';
import { failStep } from './fail.step';

let f: JobFixture;
beforeEach(async () => {
  f = await createJobFixture();
});
afterEach(async () => {
  await f.cleanup();
});

describe('fail step', () => {
  it('throws a job-ending error with its message', async () => {
    const parsed = failStep.parse({ name: 'stop', type: 'fail', message: 'no data today' });
    if (!parsed.ok) throw new Error('expected a valid step');
    await expect(parsed.step.run(f.context('stop'))).rejects.toThrow(new JobFailedError('no data today'));
  });

  it('ends the job with its message and runs nothing after it', async () => {
    const r = await f.run(
      'steps:\n  - name: stop\n    type: fail\n    message: "nothing to do for $(JOB_ID)"\n  - name: after\n    type: log\n    message: after\n',
    );
    expect(r.ok).toBe(false);
    expect(f.lines).toContain("SEVERE [executor] step 'stop' failed: nothing to do for job-1");
    expect(f.lines.join('\n')).not.toContain('[step:after]');
  });

  it('is skipped when its condition is false', async () => {
    const r = await f.run(
      'steps:\n  - name: stop\n    type: fail\n    message: never\n    when: "false"\n  - name: after\n    type: log\n    message: after\n',
    );
    expect(r.ok).toBe(true);
    expect(f.lines).toContain('INFO [step:after] after');
  });

  it('needs a message', () => {
    const r = failStep.parse({ name: 'stop', type: 'fail' });
    expect(r.ok).toBe(false);
  });
});
