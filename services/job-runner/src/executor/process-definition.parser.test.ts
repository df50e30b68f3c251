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
    expect(describeLocation(doc, ['steps', 0, 'message'])).toBe("step 1 'greet' field 'message'");
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
      "Unresolved macro $(FOO) in step 1 'greet' field 'message'",
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
        '    type: transfrom',
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
        expect.stringMatching(/^step 1 'greet' field 'mesage': unknown field$/),
        expect.stringMatching(/^step 1 'greet' field 'message': /),
        "step 2 'load' field 'type': unknown step type 'transfrom' (known types: fail, http, log, script, sql, subprocess, transform)",
        expect.stringMatching(/^step 3 field 'name': /),
        expect.stringMatching(/^step 3 field 'file': must name a \.js or \.mjs file/),
        expect.stringMatching(/^step 4 'greet' field 'onError': /),
      ]),
    );
  });

  it('rejects duplicate step names, a missing type, an empty step list and unknown top-level fields', () => {
    expect(
      problemsOf(
        'steps:\n  - name: a\n    type: log\n    message: x\n  - name: a\n    type: log\n    message: y\n',
      ),
    ).toEqual(["step 2 'a' field 'name': another step has the same name"]);
    expect(problemsOf('steps:\n  - name: a\n')).toEqual([
      "step 1 'a' field 'type': required, one of: fail, http, log, script, sql, subprocess, transform",
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

  it('names the step and the field path of problems inside connector settings', () => {
    const problems = problemsOf(
      [
        'steps:',
        '  - name: greet',
        '    type: log',
        '    message: hi',
        '  - name: load',
        '    type: transform',
        '    source: { connector: cvs, path: a.csv }',
        '    target: { connector: csv, path: b.csv, delimter: ";" }',
        '  - name: pg',
        '    type: transform',
        '    source: { connector: postgres, connection: "not a url", query: "select 1" }',
        '    target: { connector: postgres, connection: "postgres://u:p@h/db", table: t, mode: upsert }',
      ].join('\n'),
    );
    expect(problems).toEqual([
      "step 2 'load' field 'source.connector': unknown connector 'cvs' (known sources: csv, http, json, jsonl, object, postgres)",
      "step 2 'load' field 'target.delimter': unknown field",
      "step 3 'pg' field 'source.connection': must be a PostgreSQL URL: postgres://user:password@host:5432/database",
      "step 3 'pg' field 'target.key': required when mode is upsert",
    ]);
  });

  it('refuses invalid JSONata in when, filter and map, naming step and field', () => {
    const problems = problemsOf(
      [
        'steps:',
        '  - name: load',
        '    type: transform',
        '    when: "steps.x.status = "',
        '    source: { connector: csv, path: a.csv }',
        '    filter: "Active = (\'Y\'"',
        '    map: { id: "$number(ID", ok: "ID" }',
        '    target: { connector: jsonl, path: b.jsonl }',
        '  - name: whole',
        '    type: transform',
        '    source: { connector: csv, path: a.csv }',
        '    map: "{ \\"a\\": }"',
        '    target: { connector: jsonl, path: c.jsonl }',
      ].join('\n'),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^step 1 'load' field 'when': invalid JSONata: S0\d+: .+/),
      expect.stringMatching(/^step 1 'load' field 'filter': invalid JSONata: S0\d+: .+/),
      expect.stringMatching(/^step 1 'load' field 'map.id': invalid JSONata: S0\d+: .+/),
      expect.stringMatching(/^step 2 'whole' field 'map': invalid JSONata: S0\d+: .+/),
    ]);
  });

  it('validates the fields of every step type', () => {
    const problems = problemsOf(
      [
        'steps:',
        '  - name: q',
        '    type: sql',
        '    connection: "postgres://u:p@h/db"',
        '  - name: call',
        '    type: http',
        '    url: "ftp://x"',
        '    method: GET',
        '    body: { a: 1 }',
        '  - name: stop',
        '    type: fail',
        '  - name: sub',
        '    type: subprocess',
        '    file: other.yaml',
        '  - name: a/b',
        '    type: log',
        '    message: x',
      ].join('\n'),
    );
    expect(problems).toEqual([
      "step 1 'q' field 'statements': give either statements or file",
      "step 2 'call' field 'url': must be an http:// or https:// URL",
      "step 2 'call' field 'method': GET sends no body",
      "step 3 'stop' field 'message': Invalid input: expected string, received undefined",
      "step 4 'sub' field 'file': must name a .process file of the package",
      "step 5 'a/b' field 'name': must not contain '/' (it separates the names of nested steps)",
    ]);
  });
});

describe('docs/packages.md', () => {
  it('holds only examples that are valid process definitions', async () => {
    const fs = await import('node:fs/promises');
    const path = await import('node:path');
    const YAML = (await import('yaml')).default;
    const text = await fs.readFile(path.resolve(__dirname, '../../../../docs/packages.md'), 'utf8');
    const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    expect(blocks.length).toBeGreaterThan(10);
    const docMacros = new Map(
      ['JOB_ID', 'DAY', 'API_TOKEN', 'SINCE', 'BUCKET', 'CRM_KEY', 'LOCAL_JOB_OUT_DIR', 'MODE'].map((k) => [
        k,
        'x',
      ]),
    );
    docMacros
      .set('DWH_URL', 'postgres://u:p@h/dwh')
      .set('MART_URL', 'postgres://u:p@h/mart')
      .set('BUCKET', 'bkt');
    for (const block of blocks) {
      const doc: unknown = YAML.parse(block);
      const def = Array.isArray(doc) ? { steps: doc } : doc;
      expect(() =>
        parseProcessDefinition(JSON.stringify(def), 'doc.process', docMacros, BUILTIN_STEPS),
      ).not.toThrow();
    }
  });
});
