import { createJobFixture, type JobFixture } from '../job.fixture';

let f: JobFixture;
beforeEach(async () => {
  f = await createJobFixture({ macros: { GREETING: 'hello' } });
});
afterEach(async () => {
  await f.cleanup();
});

// Jest loads package scripts through its own CommonJS loader, so these are .js (CommonJS) files; the
// runner tests run .mjs scripts through the compiled executor.
describe('script step', () => {
  it("runs the script's default export with the job's context", async () => {
    await f.write(
      'scripts/hello.js',
      [
        "const fs = require('node:fs');",
        'module.exports = async ({ jobId, macros, logger, inputDir, outputDir }) => {',
        '  logger.info(`${macros.GREETING} from ${jobId}`);',
        "  fs.writeFileSync(outputDir + '/done.txt', inputDir);",
        '};',
      ].join('\n'),
    );
    const r = await f.run('steps:\n  - name: hello\n    type: script\n    file: scripts/hello.js\n');
    expect(r.ok).toBe(true);
    expect(f.lines).toContain('INFO [step:hello] hello from job-1');
    expect(await f.readOut('done.txt')).toBe(f.spec.specDir);
  });

  it('fails when the script throws, has no default function, or is outside the package', async () => {
    await f.write('throws.js', "module.exports = async () => { throw new Error('it broke'); };");
    await f.write('nofn.js', 'module.exports = { notAFunction: true };');
    for (const [file, message] of [
      ['throws.js', 'it broke'],
      ['nofn.js', "'nofn.js' has no default export function."],
      ['../x.js', "'../x.js' must be a relative path inside the package"],
    ] as const) {
      const r = await f.run(`steps:\n  - name: s\n    type: script\n    file: ${file}\n`);
      expect(r.ok).toBe(false);
      expect(f.lines).toContainEqual(
        expect.stringContaining(`SEVERE [executor] step 's' failed: ${message}`),
      );
    }
  });

  it('refuses a file that is no .js or .mjs before anything runs', async () => {
    const r = await f.run('steps:\n  - name: s\n    type: script\n    file: run.py\n');
    expect(r.problems).toEqual([
      'Invalid process definition main.process:',
      "step 1 's' field 'file': must name a .js or .mjs file of the package",
    ]);
  });
});
