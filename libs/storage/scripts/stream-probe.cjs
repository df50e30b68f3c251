// Streams a file of STREAM_PROBE_MB megabytes to S3 and back through S3ObjectStorage, in its own
// process, and prints {"size","sha256Up","sha256Down","baselineRssMb","maxRssMb"} so a test can check
// both the bytes and the peak memory (nothing may hold the file whole). Used by
// storage-memory.int.test.ts.
//
// baselineRssMb is the peak after a warm-up round trip of 4 MB through the same client (modules loaded,
// sockets open, buffers pooled): what the path needs with next to no data. The test bounds the growth
// from there, not the absolute peak, which ranges by tens of MB with the machine and its load.
//
// Run with --expose-gc: a full collection every 100 ms makes the peak measure what the path RETAINS,
// not how late V8 gets round to freeing spent chunks (on a loaded CI machine its concurrent marking
// lagged and garbage buffers alone lifted the peak from ~115 MB to ~180 MB). Something holding the
// file whole would still show: a collection cannot free what is referenced.
const { createReadStream, createWriteStream, mkdtempSync, rmSync } = require('node:fs');
const { createHash } = require('node:crypto');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { Readable } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const { S3ObjectStorage } = require('@im/storage');

async function main() {
  const collector = typeof globalThis.gc === 'function' ? setInterval(() => globalThis.gc(), 100) : undefined;
  const mb = Number(process.env.STREAM_PROBE_MB || 200);
  const dir = mkdtempSync(join(tmpdir(), 'im-probe-'));
  const file = join(dir, 'big.bin');
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
  await pipeline(
    (async function* () {
      for (let i = 0; i < mb; i++) yield chunk;
    })(),
    createWriteStream(file),
  );
  const storage = new S3ObjectStorage({
    endpoint: process.env.S3_ENDPOINT,
    region: process.env.S3_REGION || 'us-east-1',
    bucket: process.env.S3_BUCKET,
    accessKeyId: process.env.S3_ACCESS_KEY,
    secretAccessKey: process.env.S3_SECRET_KEY,
    forcePathStyle: true,
    keyPrefix: process.env.STREAM_PROBE_PREFIX || 'probe/',
  });
  const roundTrip = async (name, body) => {
    const put = await storage.put(name, body);
    const obj = await storage.get(name);
    const hash = createHash('sha256');
    let size = 0;
    for await (const c of obj.body) {
      size += c.length;
      hash.update(c);
    }
    await storage.delete(name);
    return { put, size, sha256: hash.digest('hex') };
  };
  await roundTrip('warm-up.bin', Readable.from([chunk, chunk, chunk, chunk]));
  globalThis.gc?.();
  const baselineRssMb = process.resourceUsage().maxRSS / 1024;
  const down = await roundTrip('big.bin', createReadStream(file));
  await storage.close();
  clearInterval(collector);
  rmSync(dir, { recursive: true, force: true });
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(
    JSON.stringify({
      size: down.size,
      uploaded: down.put.size,
      sha256Up: down.put.sha256,
      sha256Down: down.sha256,
      baselineRssMb,
      maxRssMb,
    }) + '\n',
  );
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
