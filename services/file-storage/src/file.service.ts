import { packagePrefix } from '@im/contracts';
import { AppError, NotFoundError } from '@im/errors';
import type { PageRequest, PageResult } from '@im/db';
import type { Logger } from '@im/logging';
import type { EventBus } from '@im/messaging';
import {
  checkZipEntries,
  entryPointsOf,
  listZipEntries,
  NotAZipError,
  openZip,
  PayloadTooLargeError,
  UnreadableZipError,
  UnsafePackageError,
  ZipSignatureCheck,
  type ObjectStorage,
} from '@im/storage';
import type { Readable } from 'node:stream';
import type { FileRecord, FileRepository } from './file.repository';

/** Keys that name a package: they must be zip archives. */
export const isPackageKey = (key: string) => /\.djar$/i.test(key);

export const objectKey = (jobConfigId: string, key: string) => `${packagePrefix(jobConfigId)}/${key}`;

/** Files attached to configurations: bytes streamed to object storage, metadata in this service's tables. */
export class FileService {
  constructor(
    private readonly files: FileRepository,
    private readonly storage: ObjectStorage,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  list(jobConfigId: string, req: PageRequest): Promise<PageResult<FileRecord>> {
    return this.files.page(jobConfigId, req);
  }

  async get(jobConfigId: string, key: string): Promise<FileRecord> {
    const f = await this.files.find(jobConfigId, key);
    if (!f)
      throw new NotFoundError(
        `Job configuration ${jobConfigId} has no file "${key}". List its files with GET /api/jobconfigs/${jobConfigId}/files.`,
      );
    return f;
  }

  /** Streams `body` into storage; the object appears whole or not at all, then its metadata is recorded. */
  async put(
    jobConfigId: string,
    key: string,
    body: Readable,
    contentType: string | undefined,
  ): Promise<{ file: FileRecord; created: boolean }> {
    let result;
    // A package must be a zip: checked on its first bytes while it streams, so nothing else is stored.
    const checked = isPackageKey(key) ? body.pipe(new ZipSignatureCheck(key)) : body;
    if (checked !== body) body.on('error', (err) => checked.destroy(err));
    try {
      result = await this.storage.put(objectKey(jobConfigId, key), checked, {
        contentType: contentType ?? 'application/octet-stream',
        maxBytes: this.maxBytes,
      });
    } catch (err) {
      if (err instanceof NotAZipError) {
        // The rest of the body is not worth reading.
        body.resume();
        throw new AppError('NOT_A_ZIP', `${err.message}. Upload the package as a zip archive (.djar).`);
      }
      if (err instanceof PayloadTooLargeError) {
        throw new AppError(
          'PAYLOAD_TOO_LARGE',
          `The file is larger than the limit of ${this.maxBytes} bytes; nothing was stored. Ask an operator to raise FILES_MAX_BYTES.`,
        );
      }
      throw err;
    }
    const now = this.now();
    const record = {
      jobConfigId,
      key,
      size: result.size,
      sha256: result.sha256,
      contentType: contentType ?? 'application/octet-stream',
      updatedAt: now,
    };
    const created = await this.files.upsert(record);
    this.logger.info({ jobConfigId, key, size: result.size, created }, 'file stored');
    await this.publish(jobConfigId, key, 'stored', result.size, result.sha256);
    return { file: (await this.files.find(jobConfigId, key)) as FileRecord, created };
  }

  async open(jobConfigId: string, key: string): Promise<{ file: FileRecord; body: Readable }> {
    const file = await this.get(jobConfigId, key);
    const obj = await this.storage.get(objectKey(jobConfigId, key));
    if (!obj)
      throw new NotFoundError(
        `The bytes of "${key}" are missing from object storage; upload the file again.`,
      );
    return { file, body: obj.body };
  }

  async delete(jobConfigId: string, key: string): Promise<void> {
    await this.get(jobConfigId, key);
    await this.storage.delete(objectKey(jobConfigId, key));
    await this.files.delete(jobConfigId, key);
    await this.publish(jobConfigId, key, 'deleted', null, null);
  }

  /** Removes every file of a configuration (it was deleted). */
  async deleteAll(jobConfigId: string): Promise<void> {
    const n = await this.storage.deletePrefix(`${packagePrefix(jobConfigId)}/`);
    await this.files.deleteAll(jobConfigId);
    this.logger.info({ jobConfigId, objects: n }, 'removed the files of a deleted configuration');
  }

  async exists(jobConfigId: string, key: string): Promise<boolean> {
    return (await this.files.find(jobConfigId, key)) !== undefined;
  }

  async entryPoints(jobConfigId: string, key: string): Promise<string[]> {
    await this.get(jobConfigId, key);
    try {
      const zip = await openZip(this.storage, objectKey(jobConfigId, key));
      if (!zip)
        throw new NotFoundError(
          `The bytes of "${key}" are missing from object storage; upload the file again.`,
        );
      const entries = await listZipEntries(zip);
      checkZipEntries(entries);
      return entryPointsOf(entries);
    } catch (err) {
      if (err instanceof UnsafePackageError) {
        throw new AppError(
          'PACKAGE_UNSAFE',
          `${err.message}. Rebuild the package as a plain zip of regular files with relative paths (no links, no "..", no absolute paths), within the size limits.`,
        );
      }
      if (err instanceof UnreadableZipError) {
        throw new AppError(
          'PACKAGE_UNREADABLE',
          `${err.message}. Upload the package as a zip archive (.djar).`,
        );
      }
      throw err;
    }
  }

  private async publish(
    jobConfigId: string,
    key: string,
    change: 'stored' | 'deleted',
    size: number | null,
    sha256: string | null,
  ) {
    try {
      await this.bus.publish('file.changes', {
        jobConfigId,
        key,
        change,
        size,
        sha256,
        occurredAt: new Date(this.now()).toISOString(),
      });
    } catch (err) {
      this.logger.error({ err, jobConfigId, key }, 'could not publish the file change');
    }
  }
}
