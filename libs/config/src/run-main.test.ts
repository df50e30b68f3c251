import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** runMain is a process's last word: it runs in a child here, against the built library (npm run build). */
describe('runMain', () => {
  const run = (body: string) =>
    spawnSync(
      process.execPath,
      [
        '-e',
        `const { runMain, parseEnv } = require('@im/config'); const { z } = require('@im/contracts'); ${body}`,
      ],
      {
        cwd: path.resolve(__dirname, '..', '..', '..'),
        encoding: 'utf8',
      },
    );

  it('exits 2 with every wrong variable when the configuration is wrong', () => {
    const r = run(
      `runMain('svc', async () => { parseEnv(z.object({ X_URL: z.string(), Y: z.string() }), {}); });`,
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^svc failed to start: Invalid configuration; fix these environment variables:\n {2}X_URL: is required\n {2}Y: is required\n$/,
    );
  });

  it('exits 1 with the error for anything else, and not at all on success', () => {
    const failed = run(`runMain('svc', async () => { throw new Error('database unreachable'); });`);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/^svc failed to start: Error: database unreachable/);
    const ok = run(`runMain('svc', async () => { process.stdout.write('ran'); });`);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe('ran');
  });
});
