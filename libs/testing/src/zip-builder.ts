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

/**
 * Hostile-package helpers. yazl refuses unsafe names, so a test writes a same-length placeholder and
 * replaces its bytes (in the local and the central header) with the unsafe name.
 */
export function patchZipNames(zip: Buffer, from: string, to: string): Buffer {
  if (from.length !== to.length) throw new Error('names must have the same length');
  const out = Buffer.from(zip);
  const needle = Buffer.from(from);
  let at = out.indexOf(needle);
  let n = 0;
  while (at >= 0) {
    Buffer.from(to).copy(out, at);
    n++;
    at = out.indexOf(needle, at + needle.length);
  }
  if (n === 0) throw new Error(`placeholder ${from} not found`);
  return out;
}

/**
 * Rewrites what the central directory declares about entry `name` (its sizes), as a crafted archive
 * would: the bytes stay what they are, only the declaration lies.
 */
export function patchCentralDirectory(
  zip: Buffer,
  name: string,
  declared: { uncompressedSize?: number; compressedSize?: number },
): Buffer {
  const out = Buffer.from(zip);
  const sig = Buffer.from([0x50, 0x4b, 0x01, 0x02]);
  for (let at = out.indexOf(sig); at >= 0; at = out.indexOf(sig, at + 4)) {
    const nameLength = out.readUInt16LE(at + 28);
    if (out.toString('utf8', at + 46, at + 46 + nameLength) !== name) continue;
    if (declared.compressedSize !== undefined) out.writeUInt32LE(declared.compressedSize, at + 20);
    if (declared.uncompressedSize !== undefined) out.writeUInt32LE(declared.uncompressedSize, at + 24);
    return out;
  }
  throw new Error(`no central directory entry ${name}`);
}
