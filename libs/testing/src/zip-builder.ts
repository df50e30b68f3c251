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
