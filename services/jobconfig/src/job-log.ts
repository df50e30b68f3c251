import type { ObjectStorage } from '@im/storage';
import type { Response } from 'express';

export interface FollowOptions {
  pollMs: number;
  /** True once the job is terminal; the stream ends after the last bytes are sent. */
  isFinished(): Promise<boolean>;
  /** Stop following after this long even if the job still runs (the client can ask again). */
  maxMs: number;
}

/** Streams a log object as text; never buffers it whole. */
export async function sendLog(storage: ObjectStorage, key: string, res: Response): Promise<void> {
  res.type('text/plain; charset=utf-8');
  const obj = await storage.get(key);
  if (!obj) {
    res.setHeader('Content-Length', '0');
    res.end();
    return;
  }
  res.setHeader('Content-Length', String(obj.info.size));
  await pipeTo(obj.body, res);
  res.end();
}

function pipeTo(body: NodeJS.ReadableStream, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    body.on('error', reject);
    body.on('end', resolve);
    body.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) {
        body.pause();
        res.once('drain', () => body.resume());
      }
    });
  });
}

/** `?follow=true`: sends what the log holds, then new bytes as the runner flushes them, until the job ends. */
export async function followLog(
  storage: ObjectStorage,
  key: string,
  res: Response,
  opts: FollowOptions,
): Promise<void> {
  res.type('text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  let offset = 0;
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  const deadline = Date.now() + opts.maxMs;
  for (;;) {
    const finished = await opts.isFinished();
    const head = await storage.head(key);
    if (head && head.size > offset) {
      const part = await storage.get(key, { start: offset, end: head.size - 1 });
      if (part) {
        await pipeTo(part.body, res);
        offset = head.size;
      }
    }
    if (finished || closed || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, opts.pollMs));
  }
  res.end();
}
