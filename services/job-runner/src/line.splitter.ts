import { StringDecoder } from 'node:string_decoder';

/**
 * Turns a byte stream into text lines (UTF-8, `\n` or `\r\n`). A line longer than `maxLineChars` is
 * cut into pieces, so a package that prints without newlines cannot make the runner buffer it all.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineChars = 16 * 1024,
  ) {}

  push(chunk: Buffer | string): void {
    this.partial += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      this.emit(this.partial.slice(0, nl));
      this.partial = this.partial.slice(nl + 1);
    }
    while (this.partial.length > this.maxLineChars) {
      this.emit(this.partial.slice(0, this.maxLineChars));
      this.partial = this.partial.slice(this.maxLineChars);
    }
  }

  /** Emits what is left (a last line without a newline). */
  end(): void {
    this.partial += this.decoder.end();
    if (this.partial.length > 0) this.emit(this.partial);
    this.partial = '';
  }

  private emit(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    for (let i = 0; i < line.length || i === 0; i += this.maxLineChars)
      this.onLine(line.slice(i, i + this.maxLineChars));
  }
}
