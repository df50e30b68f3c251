import { LocalObjectStorage, S3ObjectStorage, type ObjectStorage } from '@im/storage';
import * as path from 'node:path';
import type { ObjectStorageAccess } from './executor.protocol';
import { StepError } from './step.registry';

export interface ObjectStorageProvider {
  /** The storage of a bucket, opened on first use and kept for the job. */
  get(bucket: string): Promise<ObjectStorage>;
  close(): Promise<void>;
}

/**
 * Object storage for `object` connectors, as the executor spec allows: one S3 client per bucket, or
 * one LocalObjectStorage per bucket directory under `bucketsRoot`. Without access, every use fails
 * with a message a package author can act on.
 */
export function createObjectStorageProvider(access: ObjectStorageAccess | undefined): ObjectStorageProvider {
  const open = new Map<string, Promise<ObjectStorage>>();
  return {
    get(bucket) {
      if (!access)
        return Promise.reject(
          new StepError('this runner offers no object storage to packages (s3:// URLs cannot be used)'),
        );
      let s = open.get(bucket);
      if (!s) {
        s =
          access.kind === 's3'
            ? Promise.resolve(
                new S3ObjectStorage({
                  ...(access.endpoint ? { endpoint: access.endpoint } : {}),
                  region: access.region,
                  bucket,
                  accessKeyId: access.accessKeyId,
                  secretAccessKey: access.secretAccessKey,
                  forcePathStyle: access.forcePathStyle,
                }),
              )
            : LocalObjectStorage.open(path.join(access.bucketsRoot, bucket));
        open.set(bucket, s);
      }
      return s;
    },
    async close() {
      const all = [...open.values()];
      open.clear();
      await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.close()));
    },
  };
}
