import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LoadReject, RowSink } from '../connectors/connector.registry';
import { createTextTranscoder, type RowEncoder, type RowEnvelope, type TextEncoding } from './row.format';

/** Where the bytes of a target go: a file, an object upload. */
export interface Destination {
  readonly stream: Writable;
  /** Everything was written to `stream` and it finished: make it final (rename, await the upload). */
  commit(): Promise<void>;
  /** Give up: nothing of it remains. */
  abort(): Promise<void>;
}

/**
 * A file written under a temporary name next to `file` and renamed into place on commit, so the
 * file appears whole or not at all.
 */
export function fileDestination(file: string): Destination {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.partial`;
  const stream = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
  return {
    stream,
    commit: () => fs.rename(tmp, file),
    abort: async () => {
      stream.destroy();
      await fs.rm(tmp, { force: true });
    },
  };
}

/**
 * A sink that encodes rows (a format's encoder) into a destination, with backpressure: `write`
 * resolves once the encoder can take more. Rows the encoder refuses are `load` rejects.
 */
export function createStreamSink(
  encoder: RowEncoder,
  encoding: TextEncoding,
  destination: Destination,
): RowSink {
  const stages = encoder.createStages();
  const head = stages[0];
  const transcoder = createTextTranscoder(encoding);
  const done = pipeline([...stages, ...(transcoder ? [transcoder] : []), destination.stream]);
  let failure: unknown;
  done.catch((err: unknown) => {
    failure ??= err;
  });
  const failed = done.then(
    () => {
      throw new Error('the output closed before all rows were written');
    },
    (err: unknown) => {
      throw err;
    },
  );
  failed.catch(() => undefined);

  return {
    async write(row, position) {
      if (failure !== undefined) throw failure instanceof Error ? failure : new Error('the output failed');
      const reason = encoder.check(row);
      if (reason !== undefined) return [{ row, position, reason } satisfies LoadReject];
      if (!head.write({ row } satisfies RowEnvelope)) {
        const ac = new AbortController();
        const drained = once(head, 'drain', { signal: ac.signal });
        drained.catch(() => undefined);
        try {
          await Promise.race([drained, failed]);
        } finally {
          ac.abort();
        }
      }
      return [];
    },
    async close() {
      head.end();
      await done;
      await destination.commit();
      return [];
    },
    async abort() {
      head.destroy();
      await done.catch(() => undefined);
      await destination.abort();
    },
  };
}
