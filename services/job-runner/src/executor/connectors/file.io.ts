import { createReadStream } from 'node:fs';
import { resolveReadFile, resolveWriteFile } from '../package-file.resolver';
import type { RowFormat } from '../formats/row.format';
import { createStreamSink, fileDestination } from '../formats/stream.sink';
import type { ConnectorContext, RowSink, SourceItem } from './connector.registry';

/** The job's directories, from the spec, for path resolution. */
function dirsOf(ctx: ConnectorContext) {
  return { specDir: ctx.spec.specDir, outDir: ctx.spec.outDir, workDir: ctx.spec.workDir };
}

/**
 * Rows of a file in a format. `path` is a file of the package, or an absolute path inside the out or
 * work dir (see package-file.resolver.ts); the file is opened when the first row is asked for.
 */
export async function* readFileRows<O>(
  format: RowFormat<O>,
  options: O,
  file: string,
  ctx: ConnectorContext,
): AsyncGenerator<SourceItem> {
  const real = await resolveReadFile(dirsOf(ctx), file);
  yield* format.read(createReadStream(real, { highWaterMark: 64 * 1024 }), options, file);
}

/**
 * A sink writing rows in a format to a file: relative paths are in the out dir, absolute ones must be
 * inside the out or work dir. The file appears (whole) when the sink closes.
 */
export async function openFileSink<O>(
  format: RowFormat<O>,
  options: O,
  file: string,
  ctx: ConnectorContext,
): Promise<RowSink> {
  const real = await resolveWriteFile(dirsOf(ctx), file);
  return createStreamSink(format.encoder(options), format.encodingOf(options), fileDestination(real));
}
