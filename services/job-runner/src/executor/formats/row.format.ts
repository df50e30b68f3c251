import { z } from '@im/contracts';
import { StringDecoder } from 'node:string_decoder';
import { Transform, type Readable } from 'node:stream';
import type { RowSource } from '../connectors/connector.registry';

export const TextEncoding = z.enum(['utf8', 'latin1', 'utf16le']);
export type TextEncoding = z.infer<typeof TextEncoding>;

/** A row on its way through an encoder's streams (object-mode streams cannot carry a null row). */
export interface RowEnvelope {
  readonly row: unknown;
}

/** Turns rows into text, as a stream: rows (objects) in, text out. */
export interface RowEncoder {
  readonly contentType: string;
  /** Why a row cannot be written in this format (a `load` reject), or undefined. */
  check(row: unknown): string | undefined;
  /**
   * The stages rows go through, in order: the first is written {@link RowEnvelope}s in object mode
   * (each row accepted by `check`), the last gives UTF-8 text.
   */
  createStages(): [Transform, ...Transform[]];
}

/** A text format of rows (CSV, a JSON array, JSON Lines), for files and objects alike. */
export interface RowFormat<O> {
  /** Streams the rows of `body`; `label` names the input in messages. */
  read(body: Readable, options: O, label: string): RowSource;
  encoder(options: O): RowEncoder;
  /** The text encoding the options ask for. */
  encodingOf(options: O): TextEncoding;
}

/**
 * Re-encodes UTF-8 text (what the encoders produce) to `encoding`; for UTF-16LE a byte order mark
 * comes first. Null for UTF-8: nothing to do.
 */
export function createTextTranscoder(encoding: TextEncoding): Transform | null {
  if (encoding === 'utf8') return null;
  const decoder = new StringDecoder('utf8');
  let first = true;
  return new Transform({
    transform(chunk: Buffer | string, _enc, cb) {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      const bom = first && encoding === 'utf16le' ? '\ufeff' : '';
      first = false;
      cb(null, Buffer.from(bom + text, encoding));
    },
    flush(cb) {
      const rest = decoder.end();
      cb(null, rest ? Buffer.from(rest, encoding) : undefined);
    },
  });
}

/**
 * Decoded text of a byte stream, chunk by chunk, without a leading byte order mark. Bytes of a
 * character split between chunks are kept for the next one.
 */
export async function* decodeText(body: Readable, encoding: TextEncoding): AsyncGenerator<string> {
  const decoder = new StringDecoder(encoding);
  let first = true;
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    let text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    if (text) yield text;
  }
  const rest = decoder.end();
  if (rest) yield rest;
}

/** A short, single-line excerpt of a value for messages. */
export function excerpt(text: string, max = 120): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/** `number`, `array`, `null`, … for messages about a row of the wrong shape. */
export function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export function isPlainRow(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
