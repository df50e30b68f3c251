import { createJobFixture, type JobFixture } from './job.fixture';

let f: JobFixture;
beforeEach(async () => {
  f = await createJobFixture({ macros: { MODE: 'full' } });
});
afterEach(async () => {
  await f.cleanup();
});

const stepLines = () => f.lines.filter((l) => !l.startsWith('DEBUG'));

describe('runProcess', () => {
  it('skips a step whose when is falsy, logging it as skipped, and runs one whose when is true', async () => {
    const r = await f.run(
      [
        'steps:',
        '  - name: first',
        '    type: log',
        '    message: one',
        '  - name: only-delta',
        '    type: log',
        '    message: delta',
        '    when: "macros.MODE = \'delta\'"',
        '  - name: after-first',
        '    type: log',
        '    message: first ran',
        "    when: \"steps.first.status = 'succeeded' and steps.`only-delta`.status = 'skipped'\"",
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    expect(stepLines()).toEqual([
      'INFO [executor] process with 3 steps',
      "INFO [executor] step 1/3 'first' (log)",
      'INFO [step:first] one',
      "INFO [executor] step 2/3 'only-delta' (log) skipped: its condition (when) is false",
      "INFO [executor] step 3/3 'after-first' (log)",
      'INFO [step:after-first] first ran',
    ]);
  });

  it('goes on past a failing step with onError: continue, and later steps see it failed', async () => {
    await f.write('boom.js', "module.exports = async () => { throw new Error('boom'); };");
    const r = await f.run(
      [
        'steps:',
        '  - name: flaky',
        '    type: script',
        '    file: boom.js',
        '    onError: continue',
        '  - name: cleanup',
        '    type: log',
        '    message: "cleaning up after: {{error}}"',
        "    when: \"steps.flaky.status = 'failed' and steps.flaky.error = 'boom'\"",
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    expect(stepLines()).toContain(
      "WARNING [executor] step 'flaky' failed (onError: continue, going on): boom",
    );
    expect(stepLines()).toContain('INFO [step:cleanup] cleaning up after: {{error}}');
  });

  it('stops at a failing step (onError: fail, the default) and runs nothing after it', async () => {
    const r = await f.run(
      [
        'steps:',
        '  - name: missing',
        '    type: script',
        '    file: nope.mjs',
        '  - name: never',
        '    type: log',
        '    message: not reached',
      ].join('\n'),
    );
    expect(r.ok).toBe(false);
    expect(stepLines()).toContain(
      "SEVERE [executor] step 'missing' failed: 'nope.mjs' is not in the package.",
    );
    expect(f.lines.join('\n')).not.toContain('not reached');
  });

  it('fails the step whose when cannot be evaluated (onError applies)', async () => {
    const r = await f.run(
      [
        'steps:',
        '  - name: odd',
        '    type: log',
        '    message: x',
        '    when: "$number(\'abc\')"',
        '    onError: continue',
        '  - name: next',
        '    type: log',
        '    message: next ran',
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    expect(stepLines()).toContainEqual(
      expect.stringMatching(
        /^WARNING \[executor\] step 'odd' failed \(onError: continue, going on\): its condition \(when\) failed: D3030: /,
      ),
    );
    expect(stepLines()).toContain('INFO [step:next] next ran');
  });

  it('ends the job at a fail step with its message, whatever its onError', async () => {
    await f.write('data/n.csv', 'n\n1\nx\n');
    const r = await f.run(
      [
        'steps:',
        '  - name: load',
        '    type: transform',
        '    source: { connector: csv, path: data/n.csv }',
        '    map: { n: "$number(n)" }',
        '    target: { connector: jsonl, path: n.jsonl }',
        '    maxErrors: 5',
        '  - name: check',
        '    type: fail',
        '    message: "some rows were rejected"',
        '    when: "steps.load.rowsRejected > 0"',
        '    onError: continue',
        '  - name: never',
        '    type: log',
        '    message: not reached',
      ].join('\n'),
    );
    expect(r.ok).toBe(false);
    expect(stepLines()).toContain("SEVERE [executor] step 'check' failed: some rows were rejected");
    expect(f.lines.join('\n')).not.toContain('not reached');
  });

  it('never writes credentials of a connection URL to the log', async () => {
    const r = await f.run(
      [
        'steps:',
        '  - name: q',
        '    type: sql',
        '    connection: "postgres://admin:s3cr3t-pw@127.0.0.1:1/db"',
        '    statements: ["select 1"]',
      ].join('\n'),
    );
    expect(r.ok).toBe(false);
    const log = f.lines.join('\n');
    expect(log).toContain("step 'q' failed: cannot connect to PostgreSQL at 127.0.0.1:1/db");
    expect(log).not.toContain('s3cr3t-pw');
  });
});
