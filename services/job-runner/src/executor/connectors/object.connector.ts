import { z } from '@im/contracts';
import { assertValidKey, type ObjectStorage } from '@im/storage';
import { PassThrough } from 'node:stream';
import { CsvOptions, csvFields, csvFormat } from '../formats/csv.format';
import { jsonFormat } from '../formats/json.format';
import { jsonlFormat } from '../formats/jsonl.format';
import type { RowFormat, TextEncoding } from '../formats/row.format';
import { createStreamSink, type Destination } from '../formats/stream.sink';
import { StepError } from '../step.registry';
import { defineConnector, type ConnectorContext, type RowSink, type SourceItem } from './connector.registry';

const OBJECT_URL = /^s3:\/\/([^/]+)\/(.+)$/;
/** S3 bucket names (which also keeps a local bucket directory a plain name). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export interface ObjectLocation {
  bucket: string;
  key: string;
}

/** `s3://bucket/key` → bucket and key, or why it is no such URL. */
export function parseObjectUrl(url: string): ObjectLocation | string {
  const m = OBJECT_URL.exec(url);
  if (!m) return 'must be s3://bucket/key';
  const [, bucket = '', key = ''] = m;
  if (!BUCKET.test(bucket) || bucket.includes('..')) return `'${bucket}' is not a valid bucket name`;
  try {
    assertValidKey(key);
  } catch {
    return `'${key}' is not a valid object key (no empty, '.' or '..' segments)`;
  }
  return { bucket, key };
}

const ObjectUrl = z.string().transform((url, ctx) => {
  const loc = parseObjectUrl(url);
  if (typeof loc === 'string') {
    ctx.addIssue({ code: 'custom', message: loc });
    return z.NEVER;
  }
  return { url, ...loc };
});

const Format = z.enum(['csv', 'json', 'jsonl']);
type Format = z.infer<typeof Format>;

const { skipEmptyLines: _skipEmptyLines, strict: _strict, ...csvWriteFields } = csvFields;

function formatIssue(
  c: { url: { key: string }; format?: Format | undefined },
  raw: Record<string, unknown>,
  ctx: z.RefinementCtx,
): void {
  const format = c.format ?? formatOfKey(c.url.key);
  if (!format) {
    ctx.addIssue({
      code: 'custom',
      path: ['format'],
      message: 'required: the key does not end in .csv, .json or .jsonl',
    });
    return;
  }
  if (format !== 'csv') {
    for (const k of Object.keys(csvFields))
      if (k !== 'encoding' && raw[k] !== undefined)
        ctx.addIssue({ code: 'custom', path: [k], message: 'only for format csv' });
  }
}

function formatOfKey(key: string): Format | undefined {
  const m = /\.(csv|json|jsonl|ndjson)$/i.exec(key);
  const ext = m?.[1]?.toLowerCase();
  return ext === 'ndjson' ? 'jsonl' : (ext as Format | undefined);
}

/** Fields given explicitly (before defaults), to tell a csv-only field set on a JSON object. */
function withRaw<S extends z.ZodType<{ url: { key: string }; format?: Format | undefined }>>(schema: S) {
  return z.unknown().transform((raw, ctx): z.output<S> => {
    const r = schema.safeParse(raw);
    if (!r.success) {
      for (const issue of r.error.issues) ctx.addIssue(issue as z.core.$ZodRawIssue);
      return z.NEVER;
    }
    formatIssue(r.data, raw as Record<string, unknown>, ctx);
    return r.data;
  });
}

const SourceFields = withRaw(z.strictObject({ url: ObjectUrl, format: Format.optional(), ...csvFields }));
const TargetFields = withRaw(
  z.strictObject({ url: ObjectUrl, format: Format.optional(), ...csvWriteFields }),
);

interface FormatChoice {
  format: RowFormat<CsvOptions>;
  encoding: TextEncoding;
}

function chooseFormat(
  c: { url: { key: string }; format?: Format | undefined } & Partial<CsvOptions>,
): FormatChoice {
  const format = c.format ?? formatOfKey(c.url.key) ?? 'jsonl';
  const options = CsvOptions.parse(c);
  // The three formats take the same options object; JSON and JSON Lines use only its encoding.
  const f: RowFormat<CsvOptions> =
    format === 'csv' ? csvFormat : format === 'json' ? jsonFormat : jsonlFormat;
  return { format: f, encoding: options.encoding };
}

async function* readObject(
  c: z.output<typeof SourceFields>,
  ctx: ConnectorContext,
): AsyncGenerator<SourceItem> {
  const storage = await ctx.services.objectStorage(c.url.bucket);
  let obj;
  try {
    obj = await storage.get(c.url.key);
  } catch (err) {
    throw new StepError(`cannot read ${c.url.url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!obj) throw new StepError(`${c.url.url} does not exist`);
  const { format } = chooseFormat(c);
  yield* format.read(obj.body, CsvOptions.parse(c), c.url.url);
}

/** Rows streamed into an upload; the object appears when the upload completes, or not at all. */
function objectDestination(
  storage: ObjectStorage,
  key: string,
  contentType: string,
  url: string,
): Destination {
  const stream = new PassThrough();
  const upload = storage.put(key, stream, { contentType });
  upload.catch(() => undefined);
  return {
    stream,
    commit: async () => {
      try {
        await upload;
      } catch (err) {
        throw new StepError(`upload to ${url} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
    abort: async () => {
      stream.destroy(new Error('the step failed; upload abandoned'));
      await upload.catch(() => undefined);
    },
  };
}

async function openObject(c: z.output<typeof TargetFields>, ctx: ConnectorContext): Promise<RowSink> {
  const storage = await ctx.services.objectStorage(c.url.bucket);
  const { format, encoding } = chooseFormat(c);
  const encoder = format.encoder(CsvOptions.parse(c));
  return createStreamSink(
    encoder,
    encoding,
    objectDestination(storage, c.url.key, encoder.contentType, c.url.url),
  );
}

/**
 * `object`: an object in object storage, `url: s3://bucket/key`, read or written as a stream in a
 * `format` (csv, json, jsonl; default from the key's extension) with that format's fields.
 */
export const objectConnector = defineConnector('object', {
  source: {
    fields: SourceFields,
    describe: (c) => `${c.url.url} (${c.format ?? formatOfKey(c.url.key) ?? 'jsonl'})`,
    open: readObject,
  },
  target: {
    fields: TargetFields,
    describe: (c) => `${c.url.url} (${c.format ?? formatOfKey(c.url.key) ?? 'jsonl'})`,
    open: openObject,
  },
});
