import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkWorkDir, executorExecArgv, findExecutorCode, permissionFlag } from './executor.sandbox';

/** The compiled executor (`npx tsc -b services/job-runner` first). */
const EXECUTOR = path.resolve(__dirname, '..', 'dist', 'executor', 'child.js');

describe('executorExecArgv', () => {
  const code = { readPaths: ['/app/dist', '/app/node_modules/zod'], reachable: [] };

  it('grants the job dir and the code for reading, the given dirs for writing, nothing else', () => {
    expect(
      executorExecArgv({
        code,
        memoryMb: 256,
        readDirs: ['/w/job-1'],
        writeDirs: ['/w/job-1/out', '/w/job-1/tmp'],
      }),
    ).toEqual([
      permissionFlag(),
      '--allow-fs-read=/w/job-1',
      '--allow-fs-read=/app/dist',
      '--allow-fs-read=/app/node_modules/zod',
      '--allow-fs-write=/w/job-1/out',
      '--allow-fs-write=/w/job-1/tmp',
      '--no-addons',
      ...(process.allowedNodeEnvironmentFlags.has('--disable-warning')
        ? ['--disable-warning=ExperimentalWarning']
        : []),
      '--max-old-space-size=256',
    ]);
  });

  it('only caps the heap without the sandbox', () => {
    expect(executorExecArgv({ code: null, memoryMb: 512, readDirs: ['/w'], writeDirs: ['/w'] })).toEqual([
      '--max-old-space-size=512',
    ]);
  });
});

describe('findExecutorCode', () => {
  jest.setTimeout(30_000);

  it("grants the executor's dist, the packages it loads and the links it loads them through", async () => {
    const code = await findExecutorCode(EXECUTOR);
    const root = path.resolve(__dirname, '..', '..', '..');
    expect(code.readPaths).toContain(path.resolve(__dirname, '..', 'dist'));
    expect(code.readPaths).toContain(path.join(root, 'node_modules', 'zod'));
    expect(code.readPaths).toContain(path.join(root, 'node_modules', '@im', 'contracts'));
    expect(code.readPaths).toContain(path.join(root, 'libs', 'contracts', 'dist'));
    // Not the repository, not node_modules as a whole (its workspace links lead everywhere).
    expect(code.readPaths).not.toContain(root);
    expect(code.readPaths).not.toContain(path.join(root, 'node_modules'));
    expect(code.readPaths.some((p) => p.startsWith(path.join(root, 'services', 'standalone')))).toBe(false);

    await expect(checkWorkDir(code, path.join(os.tmpdir(), 'im-runner'))).resolves.toBeUndefined();
    await expect(checkWorkDir(code, path.resolve(__dirname, '..', 'dist', 'work'))).rejects.toThrow(
      /overlaps/,
    );
    await expect(checkWorkDir(code, root)).rejects.toThrow(/overlaps/);
  });

  it('refuses code that holds a link to a directory or to a file elsewhere', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-sandbox-test-'));
    try {
      await fs.mkdir(path.join(dir, 'pkg', 'dist'), { recursive: true });
      await fs.writeFile(path.join(dir, 'pkg', 'package.json'), '{}');
      await fs.writeFile(path.join(dir, 'pkg', 'dist', 'child.js'), 'module.exports = 1;\n');
      await fs.symlink('/etc', path.join(dir, 'pkg', 'dist', 'etc'));
      await expect(findExecutorCode(path.join(dir, 'pkg', 'dist', 'child.js'))).rejects.toThrow(
        /links inside the executor's code would let a job read elsewhere.*dist\/etc -> \/etc/,
      );
      // A link to a file of the code is fine; a link to a directory, even inside the code, is not
      // (`dist/inner-link/../..` climbs above its target).
      await fs.rm(path.join(dir, 'pkg', 'dist', 'etc'));
      await fs.symlink('child.js', path.join(dir, 'pkg', 'dist', 'alias.js'));
      await expect(findExecutorCode(path.join(dir, 'pkg', 'dist', 'child.js'))).resolves.toMatchObject({
        readPaths: [path.join(dir, 'pkg', 'dist'), path.join(dir, 'pkg', 'package.json')],
      });
      await fs.mkdir(path.join(dir, 'pkg', 'dist', 'inner'));
      await fs.symlink('inner', path.join(dir, 'pkg', 'dist', 'inner-link'));
      await expect(findExecutorCode(path.join(dir, 'pkg', 'dist', 'child.js'))).rejects.toThrow(
        /a link to a directory.*dist\/inner-link/,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
