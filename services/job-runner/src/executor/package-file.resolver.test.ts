import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveReadFile, resolveWriteFile, type JobDirs } from './package-file.resolver';

let root: string;
let dirs: JobDirs;
beforeEach(async () => {
  root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'im-paths-')));
  dirs = {
    specDir: path.join(root, 'spec'),
    outDir: path.join(root, 'out'),
    workDir: path.join(root, 'tmp'),
  };
  for (const d of Object.values(dirs)) await fs.mkdir(d as string);
  await fs.writeFile(path.join(dirs.specDir, 'a.csv'), 'x');
  await fs.writeFile(path.join(dirs.outDir, 'prev.csv'), 'x');
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('resolveReadFile', () => {
  it('reads relative paths from the package and absolute ones from the out or work dir only', async () => {
    expect(await resolveReadFile(dirs, 'a.csv')).toBe(path.join(dirs.specDir, 'a.csv'));
    expect(await resolveReadFile(dirs, path.join(dirs.outDir, 'prev.csv'))).toBe(
      path.join(dirs.outDir, 'prev.csv'),
    );
    await expect(resolveReadFile(dirs, path.join(dirs.specDir, 'a.csv'))).rejects.toThrow(
      'an absolute path must be inside $(LOCAL_JOB_OUT_DIR) or $(LOCAL_JOB_WORK_DIR)',
    );
    await expect(resolveReadFile(dirs, `${dirs.outDir}/../spec/a.csv`)).rejects.toThrow(
      /an absolute path must be inside/,
    );
    await expect(
      resolveReadFile({ ...dirs, workDir: undefined }, path.join(dirs.workDir ?? '', 'x')),
    ).rejects.toThrow('an absolute path must be inside $(LOCAL_JOB_OUT_DIR).');
    await fs.symlink('/etc/hostname', path.join(dirs.outDir, 'link'));
    await expect(resolveReadFile(dirs, path.join(dirs.outDir, 'link'))).rejects.toThrow(
      'leads outside the job',
    );
  });
});

describe('resolveWriteFile', () => {
  it('writes relative paths to the out dir, creating directories, and absolute ones inside the out or work dir', async () => {
    expect(await resolveWriteFile(dirs, 'sub/dir/x.jsonl')).toBe(path.join(dirs.outDir, 'sub/dir/x.jsonl'));
    expect((await fs.stat(path.join(dirs.outDir, 'sub/dir'))).isDirectory()).toBe(true);
    expect(await resolveWriteFile(dirs, path.join(dirs.workDir ?? '', 'y.json'))).toBe(
      path.join(dirs.workDir ?? '', 'y.json'),
    );
  });

  it('refuses paths that leave the job, the package dir, links and directories', async () => {
    for (const bad of ['../x', 'a/../../x', 'a\\b', '/etc/x', path.join(dirs.specDir, 'x'), dirs.outDir]) {
      await expect(resolveWriteFile(dirs, bad)).rejects.toThrow(/must be/);
    }
    await fs.symlink('/tmp', path.join(dirs.outDir, 'escape'));
    await expect(resolveWriteFile(dirs, 'escape/x')).rejects.toThrow("'escape/x' leads outside the job.");
    await fs.symlink('/etc/hostname', path.join(dirs.outDir, 'file-link'));
    await expect(resolveWriteFile(dirs, 'file-link')).rejects.toThrow('exists and is not a regular file');
    await fs.mkdir(path.join(dirs.outDir, 'adir'));
    await expect(resolveWriteFile(dirs, 'adir')).rejects.toThrow('exists and is not a regular file');
  });
});
