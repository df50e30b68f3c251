import { z } from '@im/contracts';
import { CsvOptions, csvFields, csvFormat } from '../formats/csv.format';
import { defineConnector } from './connector.registry';
import { openFileSink, readFileRows } from './file.io';

/** Reading options only: a target has no use for them. */
const { skipEmptyLines: _skipEmptyLines, strict: _strict, ...writeFields } = csvFields;

/**
 * `csv`: a CSV file. Source: `path` (a file of the package, or `$(LOCAL_JOB_OUT_DIR)/…`), `header`,
 * `delimiter`, `quote`, `encoding`, `skipEmptyLines`, `strict`. Target: `path` (relative to the out
 * dir), `header`, `delimiter`, `quote`, `encoding`.
 */
export const csvConnector = defineConnector('csv', {
  source: {
    fields: z.strictObject({ path: z.string().min(1), ...csvFields }),
    describe: (c) => c.path,
    open: (c, ctx) => readFileRows(csvFormat, CsvOptions.parse(c), c.path, ctx),
  },
  target: {
    fields: z.strictObject({ path: z.string().min(1), ...writeFields }),
    describe: (c) => c.path,
    open: (c, ctx) => openFileSink(csvFormat, CsvOptions.parse(c), c.path, ctx),
  },
});
