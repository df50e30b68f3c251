import { z } from '@im/contracts';
import { Transform, type Readable } from 'node:stream';
import type { SourceItem } from '../connectors/connector.registry';
import { StepError } from '../step.registry';
import {
  decodeText,
  excerpt,
  TextEncoding,
  type RowEncoder,
  type RowEnvelope,
  type RowFormat,
} from './row.format';

export const jsonFields = {
  encoding: TextEncoding.default('utf8'),
};
export const JsonOptions = z.object(jsonFields);
export type JsonOptions = z.output<typeof JsonOptions>;

/** Largest element of a JSON array a source reads (one element is held in memory at a time). */
export const MAX_ELEMENT_CHARS = 64 * 1024 * 1024;

export interface ScannedElement {
  text: string;
  /** 1-based. */
  index: number;
  /** Line where the element starts. */
  line: number;
}

type Phase = 'start' | 'first' | 'afterComma' | 'element' | 'end';

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * Splits the text of a JSON array into the texts of its elements as the text arrives, holding at
 * most one element: it follows strings (and their escapes) and nesting depth, nothing else, so an
 * element is complete at a `,` or `]` outside strings at depth 0. A broken element is still one
 * element (JSON.parse then says what is wrong with it); a text that is no array fails.
 */
export class JsonArrayScanner {
  private phase: Phase = 'start';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private parts: string[] = [];
  private size = 0;
  private line = 1;
  private elementLine = 1;
  private count = 0;

  constructor(
    private readonly label: string,
    private readonly maxChars = MAX_ELEMENT_CHARS,
  ) {}

  private fail(what: string): StepError {
    return new StepError(`${this.label}: ${what} (line ${this.line})`);
  }

  /** Feeds the next piece of text; returns the elements it completed. */
  push(text: string): ScannedElement[] {
    const out: ScannedElement[] = [];
    const n = text.length;
    let start = this.phase === 'element' ? 0 : -1;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      switch (this.phase) {
        case 'start':
          if (c === 0x5b) this.phase = 'first';
          else if (!isSpace(c)) throw this.fail(`is not a JSON array (it starts with '${text.charAt(i)}')`);
          break;
        case 'first':
        case 'afterComma':
          if (isSpace(c)) break;
          if (c === 0x5d) {
            if (this.phase === 'afterComma') throw this.fail("has a ',' right before the closing ']'");
            this.phase = 'end';
            break;
          }
          if (c === 0x2c) throw this.fail(`has an empty element before a ','`);
          this.phase = 'element';
          this.depth = 0;
          this.inString = false;
          this.escaped = false;
          this.size = 0;
          this.elementLine = this.line;
          start = i;
          continue; // the character belongs to the element
        case 'element':
          if (this.inString) {
            if (this.escaped) this.escaped = false;
            else if (c === 0x5c) this.escaped = true;
            else if (c === 0x22) this.inString = false;
          } else if (c === 0x22) this.inString = true;
          else if (c === 0x7b || c === 0x5b) this.depth++;
          else if ((c === 0x7d || c === 0x5d) && this.depth > 0) this.depth--;
          else if (this.depth === 0 && (c === 0x2c || c === 0x5d)) {
            this.parts.push(text.slice(start, i));
            out.push({ text: this.parts.join(''), index: ++this.count, line: this.elementLine });
            this.parts = [];
            this.size = 0;
            start = -1;
            this.phase = c === 0x2c ? 'afterComma' : 'end';
          }
          break;
        case 'end':
          if (!isSpace(c)) throw this.fail(`has more after the closing ']' of its array`);
          break;
      }
      if (c === 0x0a) this.line++;
      i++;
    }
    if (this.phase === 'element' && start >= 0) {
      this.parts.push(text.slice(start));
      this.size += n - start;
      if (this.size > this.maxChars)
        throw new StepError(
          `${this.label}: element ${this.count + 1} (line ${this.elementLine}) is larger than ${this.maxChars} characters`,
        );
    }
    return out;
  }

  /** The input ended: fails unless the array was closed. */
  end(): void {
    if (this.phase === 'end') return;
    throw this.phase === 'start'
      ? this.fail('is empty: not a JSON array')
      : this.fail("ends before the closing ']' of its array");
  }
}

function toItem(e: ScannedElement): SourceItem {
  const position = `element ${e.index} (line ${e.line})`;
  try {
    return { ok: true, row: JSON.parse(e.text) as unknown, position };
  } catch (err) {
    return {
      ok: false,
      raw: excerpt(e.text, 1000),
      position,
      reason: `not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

async function* readJsonArray(body: Readable, o: JsonOptions, label: string): AsyncGenerator<SourceItem> {
  const scanner = new JsonArrayScanner(label);
  try {
    for await (const text of decodeText(body, o.encoding)) {
      for (const e of scanner.push(text)) yield toItem(e);
    }
    scanner.end();
  } finally {
    body.destroy();
  }
}

/** Checks a row can be written as JSON. */
export function jsonCheck(row: unknown): string | undefined {
  if (row === undefined || typeof row === 'function' || typeof row === 'symbol')
    return `${row === undefined ? 'no value' : typeof row} cannot be written as JSON`;
  return undefined;
}

function jsonEncoder(): RowEncoder {
  return {
    contentType: 'application/json',
    check: jsonCheck,
    createStages() {
      let first = true;
      return [
        new Transform({
          writableObjectMode: true,
          transform({ row }: RowEnvelope, _enc, cb) {
            const text = JSON.stringify(row);
            cb(null, first ? `[\n${text}` : `,\n${text}`);
            first = false;
          },
          flush(cb) {
            cb(null, first ? '[]\n' : '\n]\n');
          },
        }),
      ];
    },
  };
}

/** A JSON array: read element by element, written row by row (`[`, rows, `]`). */
export const jsonFormat: RowFormat<JsonOptions> = {
  read: readJsonArray,
  encoder: jsonEncoder,
  encodingOf: (o) => o.encoding,
};
