import { startStandalone, type PlatformProcess } from '@im/testing';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const repoRoot = path.resolve(__dirname, '..');

/** The shell block of the README's walk-through, exactly as a reader copies it. */
function walkThrough(): string {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const section = readme.split(/^## Five-minute walk-through$/m)[1];
  const block = section ? /```bash\n([\s\S]*?)```/.exec(section) : null;
  if (!block?.[1]) throw new Error('README.md has no bash block under "## Five-minute walk-through"');
  return block[1];
}

describe('README walk-through', () => {
  let dataDir: string;
  let platform: PlatformProcess;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-readme-'));
  });

  afterAll(async () => {
    await platform?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('works verbatim against a fresh start with the generated admin password', async () => {
    // No IM_ADMIN_PASSWORD: the first start generates one and prints it once, as a new user sees.
    platform = await startStandalone({ IM_DATA_DIR: dataDir });
    const printed = /password, shown only this once \(store it now\): (\S+)/.exec(platform.output());
    expect(printed).not.toBeNull();
    const script = walkThrough();
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: os.tmpdir(),
        IM: `${platform.url}/api`,
        IM_PASSWORD: printed![1]!,
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status !== 0) throw new Error(`walk-through failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    expect(lines[lines.length - 1]).toBe('FINISHED');
    expect(r.stdout).toMatch(/configuration \d+/);
    expect(r.stdout).toContain('"entryPoints":["hello.mjs","integrateXYZ.process","scripts/summarize.mjs"]');
    expect(r.stdout).toContain('read 3 customers (2 active)');
  });

  it('prints the generated password only on the first start', async () => {
    await platform.stop();
    platform = await startStandalone({ IM_DATA_DIR: dataDir });
    expect(platform.output()).not.toMatch(/shown only this once/);
  });
});
