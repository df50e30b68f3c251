import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';

export interface StreamUploadParams {
  Bucket: string;
  Key: string;
  ContentType: string;
}

export interface StreamUploadOptions {
  /** Bytes per part; S3 needs at least 5 MiB for every part but the last. */
  partSize: number;
  /** Parts on the wire at once. */
  queueSize: number;
}

/**
 * Uploads a stream of unknown length to S3 with memory bounded by `(queueSize + 1) * partSize`,
 * whatever the object's size: each part is copied into one of a fixed set of part buffers that are
 * reused once their part is stored (ADR 0006: the SDK's `Upload` helper concatenates every part into
 * a fresh buffer, which left the process's peak memory to the garbage collector's timing). An object
 * smaller than one part is sent with a single PutObject. On any failure the multipart upload is
 * aborted so no parts are left behind, and the first error is thrown.
 */
export async function uploadStream(
  client: S3Client,
  params: StreamUploadParams,
  source: AsyncIterable<Buffer>,
  options: StreamUploadOptions,
): Promise<{ etag: string | undefined }> {
  const { partSize, queueSize } = options;
  const free: Buffer[] = [];
  const takeBuffer = (): Buffer => free.pop() ?? Buffer.allocUnsafe(partSize);

  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: Error | undefined;

  const sendPart = async (partNumber: number, buffer: Buffer, length: number): Promise<void> => {
    const out = await client.send(
      new UploadPartCommand({
        Bucket: params.Bucket,
        Key: params.Key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: buffer.subarray(0, length),
        ContentLength: length,
      }),
    );
    parts.push({ PartNumber: partNumber, ETag: out.ETag });
  };

  const dispatch = async (partNumber: number, buffer: Buffer, length: number): Promise<void> => {
    if (uploadId === undefined) {
      const created = await client.send(new CreateMultipartUploadCommand(params));
      uploadId = created.UploadId;
    }
    const task = sendPart(partNumber, buffer, length)
      .catch((err: unknown) => {
        failure ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => {
        free.push(buffer);
        inFlight.delete(task);
      });
    inFlight.add(task);
    while (inFlight.size >= queueSize && failure === undefined) await Promise.race(inFlight);
  };

  let current = takeBuffer();
  let fill = 0;
  let partNumber = 0;
  try {
    for await (const chunk of source) {
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(chunk.length - offset, partSize - fill);
        chunk.copy(current, fill, offset, offset + n);
        fill += n;
        offset += n;
        if (fill === partSize) {
          partNumber += 1;
          await dispatch(partNumber, current, fill);
          if (failure !== undefined) throw failure;
          current = takeBuffer();
          fill = 0;
        }
      }
    }
    if (partNumber === 0) {
      const out = await client.send(
        new PutObjectCommand({ ...params, Body: current.subarray(0, fill), ContentLength: fill }),
      );
      return { etag: out.ETag };
    }
    if (fill > 0) {
      partNumber += 1;
      await dispatch(partNumber, current, fill);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const out = await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: params.Bucket,
        Key: params.Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    return { etag: out.ETag };
  } catch (err) {
    await Promise.allSettled(inFlight);
    if (uploadId !== undefined) {
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: uploadId }))
        .catch(() => undefined);
    }
    throw err;
  }
}
