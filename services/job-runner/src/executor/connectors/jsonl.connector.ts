import { z } from '@im/contracts';
import { jsonlFields, jsonlFormat } from '../formats/jsonl.format';
import { defineConnector } from './connector.registry';
import { openFileSink, readFileRows } from './file.io';

/**
 * `jsonl`: JSON Lines, one JSON value per line. A line that is no JSON is rejected (stage `read`,
 * with its line number), not an error. Fields: `path`, `encoding`.
 */
export const jsonlConnector = defineConnector('jsonl', {
  source: {
    fields: z.strictObject({ path: z.string().min(1), ...jsonlFields }),
    describe: (c) => c.path,
    open: (c, ctx) => readFileRows(jsonlFormat, c, c.path, ctx),
  },
  target: {
    fields: z.strictObject({ path: z.string().min(1), ...jsonlFields }),
    describe: (c) => c.path,
    open: (c, ctx) => openFileSink(jsonlFormat, c, c.path, ctx),
  },
});
