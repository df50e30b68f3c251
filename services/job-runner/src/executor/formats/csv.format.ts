import { z } from '@im/contracts';
import { CsvError, parse, type Options } from 'csv-parse';
import { stringify } from 'csv-stringify';
import { Transform, type Readable } from 'node:stream';
import { StepError } from '../step.registry';
import type { SourceItem } from '../connectors/connector.registry';
import {
  isPlainRow,
  kindOf,
  TextEncoding,
  type RowEncoder,
  type RowEnvelope,
  type RowFormat,
} from './row.format';

/** The CSV fields of a connector (csv files, objects with `format: csv`). */
export const csvFields = {
  /**
   * Source: true = the first line names the columns (rows are objects); a list = these are the
   * columns and the first line is data; false = rows are arrays. Target: true = a header line with
   * the first row's field names; a list = these columns in this order, with a header line; false = no
   * header line, columns from the first row.
   */
  header: z.union([z.boolean(), z.array(z.string().min(1)).min(1)]).default(true),
  delimiter: z.string().min(1).max(8).default(','),
  /** The quote character; false: no quoting at all. */
  quote: z.union([z.string().length(1), z.literal(false)]).default('"'),
  encoding: TextEncoding.default('utf8'),
  /** Source: ignore lines with nothing on them. */
  skipEmptyLines: z.boolean().default(true),
  /** Source: a record with more or fewer fields than the columns is an error (else tolerated). */
  strict: z.boolean().default(true),
};
export const CsvOptions = z.object(csvFields);
export type CsvOptions = z.output<typeof CsvOptions>;

/**
 * The CSV error as a package author reads it: what is wrong and on which line. `lastGoodLine` is the
 * line where the last complete record (or the header) ended.
 */
export function describeCsvError(err: unknown, label: string, lastGoodLine = 0): StepError {
  if (!(err instanceof CsvError))
    return new StepError(`${label}: ${err instanceof Error ? err.message : String(err)}`);
  const line = typeof err.lines === 'number' ? err.lines : undefined;
  const where = line !== undefined ? ` line ${line}` : '';
  if (err.code === 'CSV_QUOTE_NOT_CLOSED') {
    return new StepError(
      `${label}: malformed CSV: a quoted field is never closed: it opens in the record after line ${lastGoodLine} and the file ends inside it (line ${line ?? '?'})`,
    );
  }
  if (
    err.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH' ||
    err.code === 'CSV_RECORD_INCONSISTENT_COLUMNS'
  ) {
    const m = /length is (\d+), got (\d+)/.exec(err.message) ?? /expect (\d+), got (\d+)/.exec(err.message);
    const detail = m ? `: expected ${m[1]} fields, found ${m[2]}` : '';
    return new StepError(
      `${label}${where}: malformed CSV: wrong number of fields${detail} (set strict: false to tolerate it)`,
    );
  }
  return new StepError(
    `${label}${where}: malformed CSV: ${err.message.replace(/ at line \d+/, '').replace(/ on line \d+/, '')}`,
  );
}

async function* readCsv(body: Readable, o: CsvOptions, label: string): AsyncGenerator<SourceItem> {
  let lastGoodLine = o.header === true ? 1 : 0;
  const parser = parse({
    columns: o.header,
    delimiter: o.delimiter,
    quote: o.quote === false ? false : o.quote,
    encoding: o.encoding,
    bom: true,
    skip_empty_lines: o.skipEmptyLines,
    relax_column_count: !o.strict,
    // Runs as each record is parsed, before the consumer sees it: where the last good one ended, and
    // the record's line (one context per record; `info: true` would build a second one).
    on_record: ((record: unknown, context: { lines: number }) => {
      lastGoodLine = context.lines;
      return { record, line: context.lines };
    }) as unknown as Options['on_record'],
  });
  body.on('error', (err) => parser.destroy(err));
  body.pipe(parser);
  try {
    for await (const item of parser as AsyncIterable<{ record: unknown; line: number }>) {
      yield { ok: true, row: item.record, position: `line ${item.line}` };
    }
  } catch (err) {
    if (err instanceof CsvError) throw describeCsvError(err, label, lastGoodLine);
    throw err;
  } finally {
    body.unpipe(parser);
    body.destroy();
    parser.destroy();
  }
}

function csvEncoder(o: CsvOptions): RowEncoder {
  let columns: string[] | undefined = Array.isArray(o.header) ? [...o.header] : undefined;
  const cast = {
    boolean: (v: boolean) => (v ? 'true' : 'false'),
    object: (v: object) => JSON.stringify(v),
    date: (v: Date) => v.toISOString(),
  };
  return {
    contentType: 'text/csv; charset=' + (o.encoding === 'utf8' ? 'utf-8' : o.encoding),
    check(row) {
      if (Array.isArray(row)) {
        return o.header === true
          ? 'a row without field names (an array) needs header: false or a list of columns'
          : undefined;
      }
      if (!isPlainRow(row)) return `a CSV row must be an object, not ${kindOf(row)}`;
      if (!columns) {
        columns = Object.keys(row);
        if (columns.length === 0) {
          columns = undefined;
          return 'the row has no fields, so it names no CSV columns';
        }
        return undefined;
      }
      const known = columns;
      const extra = Object.keys(row).filter((k) => !known.includes(k));
      if (extra.length > 0)
        return `field(s) ${extra.map((k) => `'${k}'`).join(', ')} not among the CSV columns (${known.join(', ')})`;
      return undefined;
    },
    createStages() {
      let first = true;
      const shaper = new Transform({
        objectMode: true,
        transform({ row }: RowEnvelope, _enc, cb) {
          if (first) {
            first = false;
            if (o.header !== false && columns) this.push(columns);
          }
          if (Array.isArray(row) || !columns) cb(null, row);
          else {
            const r = row as Record<string, unknown>;
            cb(
              null,
              columns.map((c) => r[c]),
            );
          }
        },
        flush(cb) {
          // No rows: a header line alone when the columns are known.
          if (first && Array.isArray(o.header)) this.push(o.header);
          cb();
        },
      });
      const stringifier = stringify({
        delimiter: o.delimiter,
        ...(o.quote === false ? { quote: false } : { quote: o.quote }),
        record_delimiter: 'unix',
        eof: true,
        cast,
      });
      return [shaper, stringifier];
    },
  };
}

export const csvFormat: RowFormat<CsvOptions> = {
  read: readCsv,
  encoder: csvEncoder,
  encodingOf: (o) => o.encoding,
};
