import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import * as path from 'node:path';
import { resolveWriteFile, type JobDirs } from './package-file.resolver';

/** Where a transform step refused a row. */
export type RejectStage = 'read' | 'filter' | 'map' | 'load';

/** One line of a reject file. */
export interface RejectRecord {
  stage: RejectStage;
  /** Where the row was in the source (`line 12`, `element 3 (line 7)`, `row 40`, `page 2 item 5`). */
  position: string;
  reason: string;
  /** The row as the stage received it; for `read`, the text that could not be read. */
  row: unknown;
}

/** A file name from a step path (`nightly/load` → `nightly.load`). */
export function fileNameOf(stepPath: string): string {
  return stepPath.replaceAll('/', '.').replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * The reject file of a transform step, JSON Lines, one {@link RejectRecord} per line. It is created
 * with the first reject only, and written with backpressure. It stays when the step fails: it says
 * why.
 */
export class RejectFileWriter {
  private stream: WriteStream | undefined;
  private opening: Promise<WriteStream> | undefined;
  private resolved: string | undefined;
  count = 0;

  constructor(
    private readonly dirs: JobDirs,
    /** Relative to the out dir, or absolute inside the out or work dir. */
    readonly file: string,
  ) {}

  /** The file's path relative to the out dir when it is there (for messages), else absolute. */
  get displayPath(): string {
    const abs = this.resolved ?? path.resolve(this.dirs.outDir, this.file);
    const rel = path.relative(this.dirs.outDir, abs);
    return rel.startsWith('..') || path.isAbsolute(rel) ? abs : `$(LOCAL_JOB_OUT_DIR)/${rel}`;
  }

  /** Checks the path (and creates its directories) before the first reject needs it. */
  async prepare(): Promise<void> {
    this.resolved = await resolveWriteFile(this.dirs, this.file);
  }

  private async open(): Promise<WriteStream> {
    const real = this.resolved ?? (await resolveWriteFile(this.dirs, this.file));
    this.resolved = real;
    const stream = createWriteStream(real, { flags: 'w', mode: 0o600 });
    stream.on('error', () => undefined); // surfaces at the next write or at close
    return stream;
  }

  async write(record: RejectRecord): Promise<void> {
    this.opening ??= this.open();
    const stream = (this.stream ??= await this.opening);
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      line = JSON.stringify({ ...record, row: String(record.row) });
    }
    this.count++;
    if (stream.errored) throw stream.errored;
    if (!stream.write(`${line}\n`)) await once(stream, 'drain');
  }

  async close(): Promise<void> {
    const stream = this.stream ?? (this.opening ? await this.opening : undefined);
    if (!stream) return;
    await new Promise<void>((resolve, reject) => {
      stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }
}
