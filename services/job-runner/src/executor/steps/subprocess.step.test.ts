import { createJobFixture, type JobFixture } from '../job.fixture';

let f: JobFixture;
beforeEach(async () => {
  f = await createJobFixture({ macros: { WHO: 'world' } });
});
afterEach(async () => {
  await f.cleanup();
});

const visible = () => f.lines.filter((l) => !l.startsWith('DEBUG'));

describe('subprocess step', () => {
  it('runs another process of the package with the same macros, its steps named under the caller', async () => {
    await f.write(
      'flows/greet.process',
      'name: greeting\nsteps:\n  - name: hello\n    type: log\n    message: "hello $(WHO)"\n',
    );
    const r = await f.run(
      [
        'steps:',
        '  - name: outer',
        '    type: subprocess',
        '    file: flows/greet.process',
        '  - name: after',
        '    type: log',
        '    message: after',
        '    when: "steps.outer.steps.hello.status = \'succeeded\'"',
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    expect(visible()).toEqual([
      'INFO [executor] process with 2 steps',
      "INFO [executor] step 1/2 'outer' (subprocess)",
      "INFO [executor] subprocess flows/greet.process ('greeting') with 1 step, run by step 'outer'",
      "INFO [executor] step 1/1 'outer/hello' (log)",
      'INFO [step:outer/hello] hello world',
      "INFO [executor] step 2/2 'after' (log)",
      'INFO [step:after] after',
    ]);
  });

  it('fails with the nested step, naming it, unless the caller continues', async () => {
    await f.write('inner.process', 'steps:\n  - name: broken\n    type: script\n    file: missing.js\n');
    const failed = await f.run('steps:\n  - name: call\n    type: subprocess\n    file: inner.process\n');
    expect(failed.ok).toBe(false);
    expect(visible()).toContain(
      "SEVERE [executor] step 'call' failed: step 'call/broken' failed: 'missing.js' is not in the package.",
    );

    const going = await f.run(
      'steps:\n  - name: call\n    type: subprocess\n    file: inner.process\n    onError: continue\n  - name: next\n    type: log\n    message: went on\n',
    );
    expect(going.ok).toBe(true);
    expect(visible()).toContain('INFO [step:next] went on');
  });

  it('validates the processes it runs before any step runs, naming file, step and field', async () => {
    await f.write('inner.process', 'steps:\n  - name: bad\n    type: log\n    mesage: typo\n');
    const r = await f.run(
      'steps:\n  - name: first\n    type: log\n    message: first\n  - name: call\n    type: subprocess\n    file: inner.process\n',
    );
    expect(r.problems).toEqual([
      "Invalid process definition inner.process (run by step 2 'call' of main.process):",
      "step 1 'bad' field 'message': Invalid input: expected string, received undefined",
      "step 1 'bad' field 'mesage': unknown field",
    ]);
    expect(f.lines).toEqual([]);

    const missing = await f.run('steps:\n  - name: call\n    type: subprocess\n    file: nowhere.process\n');
    expect(missing.problems).toEqual([
      'Invalid process definition main.process:',
      "step 1 'call' field 'file': 'nowhere.process' is not in the package.",
    ]);
  });

  it('refuses recursion deeper than 8 levels and ends the job, even with onError: continue', async () => {
    await f.write(
      'loop.process',
      'steps:\n  - name: again\n    type: subprocess\n    file: loop.process\n    onError: continue\n',
    );
    const r = await f.run(
      'steps:\n  - name: start\n    type: subprocess\n    file: loop.process\n    onError: continue\n  - name: never\n    type: log\n    message: not reached\n',
    );
    expect(r.ok).toBe(false);
    const depth8 = `start/${Array(7).fill('again').join('/')}`;
    expect(visible()).toContain(`INFO [executor] step 1/1 '${depth8}' (subprocess)`);
    expect(visible()).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^SEVERE \\[executor\\] step '${depth8}/again' failed: subprocesses nest deeper than 8 levels, refused \\(main\\.process → (loop\\.process → ){8}loop\\.process\\); is a process running itself\\?$`,
        ),
      ),
    );
    expect(f.lines.join('\n')).not.toContain('not reached');
  });
});
