import { DefinitionError, parseProcessDefinition } from './process-definition.parser';
import { describeLocation, substituteMacros } from './macro.substitution';
import { BUILTIN_STEPS } from './steps/builtin.steps';

const macros = new Map([
  ['JOB_ID', 'j-1'],
  ['WHO', 'world'],
]);

function problemsOf(text: string, m: ReadonlyMap<string, string> = macros): string[] {
  try {
    parseProcessDefinition(text, 'main.process', m, BUILTIN_STEPS);
  } catch (err) {
    if (err instanceof DefinitionError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a DefinitionError');
}

describe('substituteMacros', () => {
  it('replaces macros in every string value, not in keys, and leaves other values alone', () => {
    const { value, unresolved } = substituteMacros(
      { a: 'hi $(WHO) $(WHO)', '$(WHO)': 1, list: ['$(JOB_ID)', true, null] },
      macros,
    );
    expect(value).toEqual({ a: 'hi world world', '$(WHO)': 1, list: ['j-1', true, null] });
    expect(unresolved).toEqual([]);
  });

  it('reports each unresolved macro with where it is, and does not resolve prototype keys', () => {
    const { unresolved } = substituteMacros(
      { steps: [{ name: 'greet', message: '$(FOO) $(constructor)' }] },
      macros,
    );
    expect(unresolved).toEqual([
      { name: 'FOO', path: ['steps', 0, 'message'] },
      { name: 'constructor', path: ['steps', 0, 'message'] },
    ]);
  });

  it('does not touch JSONata-like text such as $number(ID)', () => {
    expect(substituteMacros('$number(ID) $lowercase(Email)', macros).value).toBe(
      '$number(ID) $lowercase(Email)',
    );
  });

  it('describes locations by step name, else by position', () => {
    const doc = { steps: [{ name: 'greet' }, { type: 'log' }] };
    expect(describeLocation(doc, ['steps', 0, 'message'])).toBe("step 'greet' field 'message'");
    expect(describeLocation(doc, ['steps', 1, 'source', 'path'])).toBe("step 2 field 'source.path'");
    expect(describeLocation(doc, ['name'])).toBe("field 'name'");
  });
});

describe('parseProcessDefinition', () => {
  it('parses YAML with macros substituted and defaults applied', () => {
    const def = parseProcessDefinition(
      'name: demo\nsteps:\n  - name: greet\n    type: log\n    message: "hello $(WHO)"\n  - name: run\n    type: script\n    file: scripts/a.mjs\n    onError: continue\n',
      'main.process',
      macros,
      BUILTIN_STEPS,
    );
    expect(def.name).toBe('demo');
    expect(def.steps.map((s) => [s.name, s.type, s.onError])).toEqual([
      ['greet', 'log', 'fail'],
      ['run', 'script', 'continue'],
    ]);
  });

  it('reads JSON too', () => {
    const def = parseProcessDefinition(
      JSON.stringify({ steps: [{ name: 'a', type: 'log', message: 'x', level: 'WARNING' }] }),
      'p.process',
      macros,
      BUILTIN_STEPS,
    );
    expect(def.steps).toHaveLength(1);
  });

  it('names the unresolved macro, the step and the field', () => {
    expect(problemsOf('steps:\n  - name: greet\n    type: log\n    message: "hi $(FOO)"\n')).toEqual([
      "Unresolved macro $(FOO) in step 'greet' field 'message'",
    ]);
  });

  it('names the step and field of every invalid field', () => {
    const problems = problemsOf(
      [
        'steps:',
        '  - name: greet',
        '    type: log',
        '    mesage: typo',
        '  - name: load',
        '    type: transform',
        '  - type: script',
        '    file: run.py',
        '  - name: greet',
        '    type: log',
        '    message: again',
        '    onError: ignore',
      ].join('\n'),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^step 'greet' field 'mesage': unknown field$/),
        expect.stringMatching(/^step 'greet' field 'message': /),
        "step 'load' field 'type': unknown step type 'transform' (known types: log, script)",
        expect.stringMatching(/^step 3 field 'name': /),
        expect.stringMatching(/^step 3 field 'file': must name a \.js or \.mjs file/),
        expect.stringMatching(/^step 'greet' field 'onError': /),
      ]),
    );
  });

  it('rejects duplicate step names, a missing type, an empty step list and unknown top-level fields', () => {
    expect(
      problemsOf(
        'steps:\n  - name: a\n    type: log\n    message: x\n  - name: a\n    type: log\n    message: y\n',
      ),
    ).toEqual(["step 'a' field 'name': another step has the same name"]);
    expect(problemsOf('steps:\n  - name: a\n')).toEqual([
      "step 'a' field 'type': required, one of: log, script",
    ]);
    expect(problemsOf('steps: []\n')[0]).toMatch(/^field 'steps': a process needs at least one step/);
    expect(problemsOf('stepz: []\nsteps:\n  - name: a\n    type: log\n    message: x\n')).toEqual([
      "field 'stepz': unknown field",
    ]);
  });

  it('reports YAML syntax errors', () => {
    expect(() => parseProcessDefinition('steps: [\n', 'bad.process', macros, BUILTIN_STEPS)).toThrow(
      /bad\.process is not valid YAML or JSON/,
    );
  });
});
