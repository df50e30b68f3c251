import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import yazl from 'yazl';

export interface ZipEntrySpec {
  name: string;
  content: string | Buffer;
  /** Unix mode bits (e.g. 0o120777 for a symlink). */
  mode?: number;
}

/** Builds a zip archive in memory from `{ name: content }` (test packages are small). */
export async function buildZip(entries: Record<string, string | Buffer> | ZipEntrySpec[]): Promise<Buffer> {
  const list: ZipEntrySpec[] = Array.isArray(entries)
    ? entries
    : Object.entries(entries).map(([name, content]) => ({ name, content }));
  const zip = new yazl.ZipFile();
  for (const e of list) {
    zip.addBuffer(Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content), e.name, {
      mtime: new Date('2026-01-01T00:00:00Z'),
      ...(e.mode !== undefined ? { mode: e.mode } : {}),
    });
  }
  zip.end();
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  zip.outputStream.pipe(sink);
  for await (const c of sink) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Builds examples/sample-package with its own script (as a user would) and returns the .djar bytes. */
export function buildSamplePackage(): Buffer {
  const repoRoot = path.resolve(__dirname, '..', '..', '..');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'im-sample-')), 'samplePackage.djar');
  const r = spawnSync(
    process.execPath,
    [path.join(repoRoot, 'examples', 'sample-package', 'build.mjs'), out],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`building the sample package failed:\n${r.stdout}\n${r.stderr}`);
  const bytes = fs.readFileSync(out);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  return bytes;
}
