import { formatJobLogLine, type LogLevel } from '@im/contracts';
import type { Logger } from '@im/logging';
import type { ObjectStorage } from '@im/storage';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { levelEnabled } from './executor/executor.logger';

export const MASK = '****';

export interface JobLogWriterOptions {
  /** Local file the lines are appended to. */
  file: string;
  storage: ObjectStorage;
  /** Object key the whole file is uploaded to. */
  key: string;
  /** Uploads happen at most this often while the job runs. */
  flushMs: number;
  /** Lines above this level (DEBUG under INFO, ...) are dropped. */
  level: LogLevel;
  /** Values replaced by `****` wherever they appear in a line. */
  secrets: readonly string[];
  logger: Logger;
  /** Content to start the file with (the log of an earlier attempt), streamed. */
  seed?: Readable;
  clock?: () => Date;
  /** Attempts of the final upload. */
  finalUploadAttempts?: number;
  /**
   * Write locally only until {@link release}: the runner prepares a job while its claim travels, and
   * the log in storage is not its to write until the claim is granted.
   */
  held?: boolean;
}

/** Replaces every secret (and every line of a multi-line one) in `text`; longest first. */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s !== '' && out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

/** Secrets shorter than this are masked as they are, not in their encodings (too many false hits). */
const MIN_ENCODED_SECRET = 4;

/**
 * A second line behind withholding secrets from changed packages (ADR 0016): the common encodings a
 * package could print a secret in (base64 with and without padding, base64url, hex, reversed).
 */
export function encodingsOf(secret: string): string[] {
  if (secret.length < MIN_ENCODED_SECRET) return [];
  const bytes = Buffer.from(secret, 'utf8');
  const b64 = bytes.toString('base64');
  const hex = bytes.toString('hex');
  return [
    b64,
    b64.replace(/=+$/, ''),
    bytes.toString('base64url'),
    hex,
    hex.toUpperCase(),
    [...secret].reverse().join(''),
  ];
}

function maskList(secrets: readonly string[]): string[] {
  const all = new Set<string>();
  const add = (v: string) => {
    all.add(v);
    for (const e of encodingsOf(v)) all.add(e);
  };
  for (const s of secrets) {
    if (s === '') continue;
    add(s);
    for (const line of s.split(/\r?\n/)) if (line.trim() !== '') add(line);
  }
  return [...all].sort((a, b) => b.length - a.length);
}

/** `2026-11-28T10:15:31.004Z INFO  [entry] text` (the one format, shared with jobconfig). */
export const formatLogLine = formatJobLogLine;

/**
 * The job log: lines are appended to a local file, and the whole file is uploaded to object storage
 * at most every `flushMs` while the job runs (readers follow it there) and once more by
 * {@link close}. Secrets are masked before a line reaches the file.
 */
export class JobLogWriter {
  private pending: string[] = [];
  private pendingChars = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastUploadStart = 0;
  /** File appends and uploads run one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private held: boolean;
  private secrets: string[];
  private readonly clock: () => Date;

  private constructor(private readonly o: JobLogWriterOptions) {
    this.secrets = maskList(o.secrets);
    this.clock = o.clock ?? (() => new Date());
    this.held = o.held ?? false;
  }

  /** Starts uploading (the runner's claim was granted). */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.schedule();
  }

  static async open(options: JobLogWriterOptions): Promise<JobLogWriter> {
    const w = new JobLogWriter(options);
    if (options.seed) await pipeline(options.seed, createWriteStream(options.file, { mode: 0o600 }));
    else await fs.writeFile(options.file, '', { mode: 0o600 });
    return w;
  }

  /** Masks these values too from now on (secrets known only once the package is unpacked). */
  addSecrets(values: readonly string[]): void {
    this.secrets = maskList([...this.secrets, ...values]);
  }

  write(level: LogLevel, source: string, text: string): void {
    if (this.closed || !levelEnabled(this.o.level, level)) return;
    const line = formatLogLine(
      this.clock(),
      level,
      maskSecrets(source, this.secrets),
      maskSecrets(text, this.secrets),
    );
    this.pending.push(line);
    this.pendingChars += line.length;
    // Keep memory bounded when a package logs a lot between two uploads.
    if (this.pendingChars > 256 * 1024) void this.enqueue(() => this.persist());
    this.schedule();
  }

  /** Uploads what the log holds now. */
  flush(): Promise<void> {
    return this.enqueue(() => this.upload(), true);
  }

  /** Writes the rest and uploads the whole file once more (with retries). Throws if that fails. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.held) throw new Error('the job log is held: release() it (or abandon() it) first');
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const attempts = this.o.finalUploadAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.enqueue(() => this.upload(), true);
        return;
      } catch (err) {
        if (attempt >= attempts) throw err;
        this.o.logger.warn({ err, key: this.o.key, attempt }, 'job log upload failed; retrying');
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  /**
   * Stops uploading without a final upload: the attempt was taken from this runner, and the log in
   * storage now belongs to the next attempt. Waits for an upload already under way.
   */
  async abandon(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
  }

  private schedule(): void {
    if (this.timer || this.closed || this.held) return;
    const delay = Math.max(0, this.lastUploadStart + this.o.flushMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((err: unknown) =>
        this.o.logger.warn({ err, key: this.o.key }, 'job log upload failed; will retry'),
      );
    }, delay);
  }

  private enqueue(op: () => Promise<void>, rethrow = false): Promise<void> {
    const run = this.chain.then(op);
    this.chain = run.catch(() => undefined);
    return rethrow
      ? run
      : run.catch((err: unknown) => this.o.logger.warn({ err, file: this.o.file }, 'job log write failed'));
  }

  private async persist(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    await fs.appendFile(this.o.file, chunk, { mode: 0o600 });
  }

  private async upload(): Promise<void> {
    this.lastUploadStart = Date.now();
    await this.persist();
    const { size } = await fs.stat(this.o.file);
    // Upload exactly what is on disk now; lines appended meanwhile go in the next upload.
    const body = size > 0 ? createReadStream(this.o.file, { start: 0, end: size - 1 }) : Readable.from([]);
    try {
      await this.o.storage.put(this.o.key, body, { contentType: 'text/plain; charset=utf-8' });
    } catch (err) {
      this.schedule(); // try again later; close() retries on its own
      throw err;
    }
  }
}
