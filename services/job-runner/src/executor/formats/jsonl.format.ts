import { z } from '@im/contracts';
import { Transform, type Readable } from 'node:stream';
import type { SourceItem } from '../connectors/connector.registry';
import { StepError } from '../step.registry';
import { jsonCheck } from './json.format';
import {
  decodeText,
  excerpt,
  TextEncoding,
  type RowEncoder,
  type RowEnvelope,
  type RowFormat,
} from './row.format';

export const jsonlFields = {
  encoding: TextEncoding.default('utf8'),
};
export const JsonlOptions = z.object(jsonlFields);
export type JsonlOptions = z.output<typeof JsonlOptions>;

/** Longest line a JSON Lines source reads (one line is held in memory at a time). */
export const MAX_LINE_CHARS = 64 * 1024 * 1024;

function toItem(line: string, lineNo: number): SourceItem | undefined {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text.trim() === '') return undefined;
  const position = `line ${lineNo}`;
  try {
    return { ok: true, row: JSON.parse(text) as unknown, position };
  } catch (err) {
    return {
      ok: false,
      raw: excerpt(text, 1000),
      position,
      reason: `not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

/** JSON Lines: one JSON value per line; a line that is no JSON is a `read` reject, not an error. */
async function* readJsonl(body: Readable, o: JsonlOptions, label: string): AsyncGenerator<SourceItem> {
  let pending: string[] = [];
  let pendingSize = 0;
  let lineNo = 0;
  try {
    for await (const text of decodeText(body, o.encoding)) {
      let from = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
        pending.push(text.slice(from, nl));
        const line = pending.length === 1 ? (pending[0] as string) : pending.join('');
        pending = [];
        pendingSize = 0;
        from = nl + 1;
        const item = toItem(line, ++lineNo);
        if (item) yield item;
      }
      if (from < text.length) {
        pending.push(text.slice(from));
        pendingSize += text.length - from;
        if (pendingSize > MAX_LINE_CHARS)
          throw new StepError(`${label}: line ${lineNo + 1} is longer than ${MAX_LINE_CHARS} characters`);
      }
    }
    if (pending.length > 0) {
      const item = toItem(pending.join(''), ++lineNo);
      if (item) yield item;
    }
  } finally {
    body.destroy();
  }
}

function jsonlEncoder(): RowEncoder {
  return {
    contentType: 'application/x-ndjson',
    check: jsonCheck,
    createStages() {
      return [
        new Transform({
          writableObjectMode: true,
          transform({ row }: RowEnvelope, _enc, cb) {
            cb(null, `${JSON.stringify(row)}\n`);
          },
        }),
      ];
    },
  };
}

/** JSON Lines: read line by line, written one row per line. */
export const jsonlFormat: RowFormat<JsonlOptions> = {
  read: readJsonl,
  encoder: jsonlEncoder,
  encodingOf: (o) => o.encoding,
};
