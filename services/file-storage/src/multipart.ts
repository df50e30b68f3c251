import { FileKey } from '@im/contracts';
import { InputError } from '@im/errors';
import busboy from 'busboy';
import type { Request } from 'express';
import type { Readable } from 'node:stream';
import { toFieldErrors } from '@im/http-kit';

export type FileSink<T> = (key: string, body: Readable, contentType: string | undefined) => Promise<T>;

export function parseKey(raw: string | undefined, path: string): string {
  if (raw === undefined || raw === '') {
    throw new InputError(`Name the file: send "${path}" (the file name, e.g. samplePackage.djar).`, [
      { path, message: 'required' },
    ]);
  }
  const r = FileKey.safeParse(raw);
  if (!r.success)
    throw new InputError(
      `The file name is not allowed: ${r.error.issues[0]?.message ?? 'invalid'}.`,
      toFieldErrors(r.error, path),
      'INVALID_FILE_NAME',
    );
  return r.data;
}

/**
 * Streams the one file of a multipart/form-data body into `sink`, never holding it in memory. The
 * file's name is the `key` field, which must come before the `file` field (curl -F key=... -F file=@...
 * sends them in that order); without a `key` field the part's own filename is used.
 */
export function receiveMultipart<T>(
  req: Request,
  fixedKey: string | undefined,
  sink: FileSink<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 20, fieldSize: 4096, parts: 30 } });
    } catch (err) {
      reject(new InputError(`The multipart body cannot be read: ${(err as Error).message}.`));
      return;
    }
    let key = fixedKey;
    let pending: Promise<T> | undefined;
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      req.resume();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    bb.on('field', (name, value) => {
      if (name === 'key' && fixedKey === undefined) {
        if (pending)
          return fail(
            new InputError('Send the "key" field before the "file" field.', [
              { path: 'key', message: 'must come before file' },
            ]),
          );
        key = value;
      }
    });
    bb.on('file', (name, stream, info) => {
      if (name !== 'file' || pending || failed) {
        stream.resume();
        return;
      }
      let k: string;
      try {
        k = parseKey(key ?? info.filename, 'key');
      } catch (err) {
        stream.resume();
        return fail(err);
      }
      pending = sink(
        k,
        stream,
        info.mimeType && info.mimeType !== 'application/octet-stream' ? info.mimeType : undefined,
      );
      pending.catch((err: unknown) => {
        stream.resume();
        fail(err);
      });
    });
    bb.on('filesLimit', () =>
      fail(
        new InputError('Send one file per request.', [{ path: 'file', message: 'only one file is allowed' }]),
      ),
    );
    bb.on('error', (err: Error) =>
      fail(new InputError(`The multipart body cannot be read: ${err.message}.`)),
    );
    bb.on('close', () => {
      if (failed) return;
      if (!pending)
        return fail(
          new InputError('The multipart body has no "file" field; send the bytes as -F file=@<path>.', [
            { path: 'file', message: 'required' },
          ]),
        );
      pending.then(resolve, fail);
    });
    req.on('aborted', () =>
      fail(new InputError('The upload was interrupted; nothing was stored. Send it again.')),
    );
    req.pipe(bb);
  });
}
