import { z } from '@im/contracts';
import { jsonFields, jsonFormat } from '../formats/json.format';
import { defineConnector } from './connector.registry';
import { openFileSink, readFileRows } from './file.io';

/**
 * `json`: a file holding one JSON array, streamed element by element (source) or written row by row
 * (target). Fields: `path`, `encoding`.
 */
export const jsonConnector = defineConnector('json', {
  source: {
    fields: z.strictObject({ path: z.string().min(1), ...jsonFields }),
    describe: (c) => c.path,
    open: (c, ctx) => readFileRows(jsonFormat, c, c.path, ctx),
  },
  target: {
    fields: z.strictObject({ path: z.string().min(1), ...jsonFields }),
    describe: (c) => c.path,
    open: (c, ctx) => openFileSink(jsonFormat, c, c.path, ctx),
  },
});
