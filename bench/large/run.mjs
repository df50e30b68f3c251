#!/usr/bin/env node
// Large packages benchmark (issue 8): a file of --mb MiB (default 1024) up and down through the
// distributed platform (one process per service on the real PostgreSQL/Kafka/S3 of scripts/infra).
//   - platform: POST /api/jobconfigs/{id}/files?key=… (raw application/octet-stream; --multipart for
//               multipart key+file) and GET /api/jobconfigs/{id}/files/{key}, through the gateway, which
//               proxies to file-storage, which streams to and from S3;
//   - direct:   the same file with @aws-sdk/lib-storage's Upload and a GetObject, from this process to the
//               same S3 server (S3_* of .infra/env, path-style, same checksum settings as the platform).
//   - file-storage (no gateway): the platform's transfers sent straight to the file-storage process, so
//               the gateway's hop and file-storage's own cost can be told apart (--no-hops skips them).
// The file is generated on disk first and streamed from there; what comes back is hashed (sha256) and
// compared, never held in memory. Prints MB/s each way (MB = 2^20 bytes), the platform/direct ratios
// (target ≥ 0.7 each way) and the peak RSS of the gateway and file-storage processes during the
// transfers (target < 150 MB each), sampled from /proc/<pid>/status.
//
// Build first (npm run build), start the infrastructure and load its environment (. .infra/env).
// Usage: node bench/large/run.mjs [options]       (npm run bench:large -- [options])
//   --mb N                 file size in MiB (default 1024; --quick: 32)
//   --quick                the CI smoke version (32 MiB)
//   --multipart            upload as multipart key+file instead of a raw body
//   --no-hops              skip the file-storage-without-gateway transfers
//   --proxy-timeout-ms N   the gateway's PROXY_RESPONSE_TIMEOUT_MS (default 30000 counts from the request's
//                          start, so a slow 1 GiB upload fails with 503: pass 600000 to measure anyway)
//   --node-options=STR     NODE_OPTIONS of every service, to try a setting (--node-options=--max-semi-space-size=4)
//   --profile DIR          each service writes a V8 CPU profile to DIR/<service>-<pid>.cpuprofile
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { clearInterval, setInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineCpu, main, onCleanup, processCpuSeconds, stopAtExit } from '../lib/platform.mjs';
import { header, progress, ratio, row } from '../lib/report.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(root, 'package.json'));

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string' },
    multipart: { type: 'boolean', default: false },
    'no-hops': { type: 'boolean', default: false },
    'proxy-timeout-ms': { type: 'string' },
    'node-options': { type: 'string' },
    profile: { type: 'string' },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(
    'Usage: node bench/large/run.mjs [--mb 1024] [--quick] [--multipart] [--no-hops] [--proxy-timeout-ms N] [--node-options STR] [--profile DIR]\n',
  );
  process.exit(0);
}
const MB = 2 ** 20;
const SIZE_MB = args.mb === undefined ? (args.quick ? 32 : 1024) : Number(args.mb);
if (!Number.isInteger(SIZE_MB) || SIZE_MB <= 0) {
  process.stderr.write(`--mb must be a positive whole number of MiB (got ${args.mb}).\n`);
  process.exit(2);
}
const SIZE = SIZE_MB * MB;
const TARGET_RATIO = 0.7;
/** Also measure file-storage without the gateway, to tell the two hops' costs apart. */
const HOPS = !args['no-hops'];
const TARGET_RSS_MB = 150;
const FILE_KEY = 'bench-large.bin';
const SAMPLE_MS = 50;
/** The Upload helper's settings for the baseline: its defaults (5 MiB parts, 4 in flight). */
const DIRECT_PART_SIZE = 5 * MB;
const DIRECT_QUEUE_SIZE = 4;

for (const s of ['gateway', 'auth', 'jobconfig', 'file-storage']) {
  const entry = path.join(root, 'services', s, 'dist', 'main.js');
  if (!existsSync(entry)) {
    process.stderr.write(`${entry} is missing: run "npm run build" first.\n`);
    process.exit(1);
  }
}
if (!existsSync(path.join(root, 'libs', 'testing', 'dist', 'index.js'))) {
  process.stderr.write('libs/testing/dist is missing: run "npm run build" first.\n');
  process.exit(1);
}
const { startDistributed, infraEnv } = require('@im/testing');

/** What stops the transfers in progress (AbortControllers, the direct Upload), on SIGINT/SIGTERM. */
const aborters = new Set();

// ------------------------------------------------------------------------------------ /proc
/** VmRSS and VmHWM of a process in MiB, undefined once it is gone. */
function memoryOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? Number.NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}
/** Resets a process's VmHWM to its current RSS (Linux ≥ 4.0, own processes); false when refused. */
function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
/** The S3 server's process, when it runs on this machine (s3proxy or MinIO), for its CPU time only. */
function s3ServerPid() {
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (/s3proxy|minio\b/.test(cmd) && !cmd.includes('bench/large')) return Number(d);
    }
  } catch {
    /* no /proc */
  }
  return undefined;
}
/** The processes whose memory (gateway, file-storage) and CPU time (those and the S3 server) are sampled. */
const watch = { memory: {}, cpu: {} };

/**
 * Runs one transfer while sampling the platform's processes: peak RSS (sampled VmRSS and, where it
 * could be reset before the phase, VmHWM), CPU seconds, and progress every few seconds. `run(count)`
 * is the transfer; it calls `count(() => bytes moved so far)` once it has a stream to count.
 */
async function phase(label, run) {
  let bytesDone = () => 0;
  const pids = Object.entries(watch.memory);
  const cpuPids = Object.entries(watch.cpu);
  const reset = Object.fromEntries(pids.map(([n, pid]) => [n, resetPeak(pid)]));
  const peak = Object.fromEntries(pids.map(([n, pid]) => [n, memoryOf(pid)?.rss ?? 0]));
  const cpu0 = Object.fromEntries(cpuPids.map(([n, pid]) => [n, processCpuSeconds(pid)]));
  const self0 = process.cpuUsage();
  const machine0 = machineCpu();
  const sampler = setInterval(() => {
    for (const [n, pid] of pids) peak[n] = Math.max(peak[n], memoryOf(pid)?.rss ?? 0);
  }, SAMPLE_MS);
  let lastReport = 0;
  const t0 = process.hrtime.bigint();
  const ticker = setInterval(() => {
    const done = bytesDone();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (done > lastReport)
      progress(
        `${label}: ${Math.round(done / MB)}/${SIZE_MB} MB, ${(done / MB / s).toFixed(1)} MB/s, ` +
          pids.map(([n]) => `${n} ${Math.round(peak[n])} MB`).join(', '),
      );
    lastReport = done;
  }, 3000);
  try {
    await run((fn) => {
      bytesDone = fn;
    });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const machine1 = machineCpu();
    const self = process.cpuUsage(self0);
    for (const [n, pid] of pids) {
      const m = memoryOf(pid);
      peak[n] = Math.max(peak[n], m?.rss ?? 0, reset[n] ? (m?.hwm ?? 0) : 0);
    }
    const cpu = Object.fromEntries(cpuPids.map(([n, pid]) => [n, processCpuSeconds(pid) - cpu0[n]]));
    cpu.bench = (self.user + self.system) / 1e6;
    const busy = machine1.busy - machine0.busy;
    const ours = Object.values(cpu).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    return {
      label,
      seconds,
      rate: SIZE / MB / seconds,
      peak,
      peakExact: Object.fromEntries(pids.map(([n]) => [n, reset[n]])),
      cpu,
      // Cores busy with anything but the processes above: jobconfig, PostgreSQL, Kafka, other work.
      otherCores: Math.max(0, (busy - ours) / seconds),
    };
  } finally {
    clearInterval(sampler);
    clearInterval(ticker);
  }
}

/**
 * NODE_OPTIONS of every service: --node-options (e.g. "--max-semi-space-size=4", to try a setting)
 * and, with --profile DIR, a preload that records a CPU profile into DIR (bench/api/cpu-profile.cjs).
 */
function serviceEnv() {
  const options = [];
  const extra = {};
  if (args['node-options']) options.push(args['node-options']);
  if (args.profile) {
    options.push(`--require ${JSON.stringify(path.join(root, 'bench', 'api', 'cpu-profile.cjs'))}`);
    mkdirSync(args.profile, { recursive: true });
    extra.BENCH_PROFILE_DIR = path.resolve(args.profile);
  }
  return options.length ? { '*': { NODE_OPTIONS: options.join(' '), ...extra } } : {};
}

// ------------------------------------------------------------------------------------ transfers
/** A Writable that hashes and counts what it receives, and keeps nothing. */
function hashingSink() {
  const hash = createHash('sha256');
  const sink = new Writable({
    highWaterMark: MB,
    write(chunk, _enc, cb) {
      hash.update(chunk);
      sink.bytes += chunk.length;
      cb();
    },
  });
  sink.bytes = 0;
  sink.digest = () => hash.digest('hex');
  return sink;
}

async function responseText(res) {
  let text = '';
  res.setEncoding('utf8');
  for await (const c of res) text += c;
  return text;
}

/** Streams the file as the body of one HTTP request; resolves with the response's status and text. */
function sendFile(url, headers, body, signal) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers, signal });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      responseText(res).then((text) => resolve({ status: res.statusCode, text }), reject);
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    // The platform may answer (e.g. 413) before it has read the whole body: the response counts.
    pipeline(body, req).catch((err) => {
      if (!answered) setTimeout(() => reject(err), 1000).unref();
    });
  });
}

function multipartBody(file, key) {
  const boundary = `----im-bench-${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\n${key}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${key}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const stream = createReadStream(file);
  const body = Readable.from(
    (async function* () {
      yield head;
      yield* stream;
      yield tail;
    })(),
    { objectMode: false },
  );
  return {
    body,
    stream,
    length: head.length + SIZE + tail.length,
    type: `multipart/form-data; boundary=${boundary}`,
  };
}

// ------------------------------------------------------------------------------------ main
async function benchmark() {
  header(`Large packages: ${SIZE_MB} MB up and down, platform vs direct S3 (issue 8)`);
  const infra = infraEnv();

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-bench-large-'));
  onCleanup(async () => {
    progress(`removing ${dir}`);
    await fs.rm(dir, { recursive: true, force: true });
  });
  const file = path.join(dir, FILE_KEY);

  // 1. The file, random bytes, written and hashed 1 MiB at a time.
  progress(`generating ${SIZE_MB} MB of random bytes in ${file}`);
  const fileHash = createHash('sha256');
  {
    const fh = await fs.open(file, 'w');
    try {
      const buf = Buffer.allocUnsafe(MB);
      const step = Math.max(64, Math.round(SIZE_MB / 10));
      for (let i = 1; i <= SIZE_MB; i++) {
        randomFillSync(buf);
        fileHash.update(buf);
        await fh.write(buf, 0, MB);
        if (i % step === 0 && i < SIZE_MB) progress(`generated ${i}/${SIZE_MB} MB`);
      }
    } finally {
      await fh.close();
    }
  }
  const sha256 = fileHash.digest('hex');

  // 2. The platform, with an upload limit that fits the file.
  progress('starting the distributed platform (gateway, auth, jobconfig, file-storage; no runner)');
  const platform = await stopAtExit(
    startDistributed({
      runners: 0,
      env: {
        ...serviceEnv(),
        'file-storage': { FILES_MAX_BYTES: String(Math.max(1024 ** 3, SIZE)) },
        ...(args['proxy-timeout-ms']
          ? { gateway: { PROXY_RESPONSE_TIMEOUT_MS: args['proxy-timeout-ms'] } }
          : {}),
      },
    }),
    'the platform',
  );
  const platformPrefix = `${platform.topicPrefix.replace(/\.$/, '')}/`; // its S3_KEY_PREFIX
  const watched = {
    gateway: platform.processes.gateway.pid,
    'file-storage': platform.processes['file-storage'].pid,
  };
  const s3Pid = s3ServerPid();
  watch.memory = watched;
  watch.cpu = { ...watched, ...(s3Pid ? { 's3 server': s3Pid } : {}) };

  // The direct client: the same server and credentials, path-style, and the same checksum settings
  // as the platform's own S3 client (no CRC32 on every part the platform does not compute either).
  const s3 = new S3Client({
    endpoint: infra.s3.endpoint,
    region: infra.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: infra.s3.accessKeyId, secretAccessKey: infra.s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const directPrefix = `bench-large-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}/`;
  const directKey = `${directPrefix}${FILE_KEY}`;
  const removePrefix = async (prefix) => {
    let token;
    let n = 0;
    do {
      const out = await s3.send(
        new ListObjectsV2Command({ Bucket: infra.s3.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      const keys = (out.Contents ?? []).map((o) => ({ Key: o.Key }));
      if (keys.length > 0) {
        await s3.send(new DeleteObjectsCommand({ Bucket: infra.s3.bucket, Delete: { Objects: keys } }));
        n += keys.length;
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return n;
  };
  // Runs before the platform stops (cleanups run last in, first out).
  onCleanup(async () => {
    const n = (await removePrefix(directPrefix)) + (await removePrefix(platformPrefix));
    if (n > 0) progress(`removed ${n} object(s) left in S3`);
    s3.destroy();
  });

  const gateway = platform.url;
  const login = await fetch(`${gateway}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: platform.adminPassword }),
  });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`);
  // The internal token lets the no-gateway hops past file-storage's port (the gateway sends its own).
  const auth = {
    authorization: `Bearer ${(await login.json()).access_token}`,
    'x-internal-token': platform.internalToken,
  };
  const created = await fetch(`${gateway}/api/jobconfigs`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench large packages', active: true }),
  });
  if (created.status !== 201) throw new Error(`creating a configuration: ${created.status}`);
  const configId = (await created.json()).id;
  const fileUrl = `${gateway}/api/jobconfigs/${configId}/files/${FILE_KEY}`;
  onCleanup(async () => {
    const res = await fetch(fileUrl, { method: 'DELETE', headers: auth });
    if (res.status !== 204 && res.status !== 404) progress(`deleting the uploaded file: ${res.status}`);
  });

  const idle = Object.fromEntries(
    Object.entries(watched).map(([n, pid]) => [n, Math.round(memoryOf(pid)?.rss ?? Number.NaN)]),
  );
  process.stdout.write(
    `file: ${SIZE_MB} MB random bytes on ${dir} (sha256 ${sha256.slice(0, 16)}…); platform upload: ` +
      `${args.multipart ? 'multipart key+file' : 'raw application/octet-stream'}; direct: lib-storage Upload ` +
      `(${DIRECT_PART_SIZE / MB} MB parts, ${DIRECT_QUEUE_SIZE} in flight) and GetObject; S3 ${infra.s3.endpoint}` +
      `${s3Pid ? '' : ' (its process is not on this machine, or not found)'}\n` +
      `file-storage FILES_MAX_BYTES ${Math.max(1024 ** 3, SIZE)}; gateway PROXY_RESPONSE_TIMEOUT_MS ` +
      `${args['proxy-timeout-ms'] ?? '30000 (default)'}` +
      `${args['node-options'] ? `; services' NODE_OPTIONS ${args['node-options']}` : ''}\n` +
      `RSS before the transfers: gateway ${idle.gateway} MB, file-storage ${idle['file-storage']} MB\n`,
  );

  const withAbort = async (fn) => {
    const ac = new globalThis.AbortController();
    aborters.add(ac);
    try {
      return await fn(ac.signal);
    } finally {
      aborters.delete(ac);
    }
  };

  // Each transfer is a phase: its label, then the transfer, which tells count() what it has moved so far.
  const upload = (label, base) =>
    phase(label, (count) =>
      withAbort(async (signal) => {
        let body;
        let headers;
        if (args.multipart) {
          const m = multipartBody(file, FILE_KEY);
          count(() => m.stream.bytesRead);
          body = m.body;
          headers = { ...auth, 'content-type': m.type, 'content-length': String(m.length) };
        } else {
          const stream = createReadStream(file);
          count(() => stream.bytesRead);
          body = stream;
          headers = { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(SIZE) };
        }
        const target = args.multipart
          ? `${base}/api/jobconfigs/${configId}/files`
          : `${base}/api/jobconfigs/${configId}/files?key=${FILE_KEY}`;
        const res = await sendFile(target, headers, body, signal);
        if (res.status === 503 && /did not answer within/.test(res.text))
          throw new Error(
            `${label}: ${res.status} ${res.text.slice(0, 500)}\nThe gateway's PROXY_RESPONSE_TIMEOUT_MS ` +
              '(default 30 s) counts from the start of the request, so an upload that takes longer fails ' +
              '(a bug of the gateway). Measure anyway with --proxy-timeout-ms 600000.',
          );
        if (res.status !== 201 && res.status !== 200)
          throw new Error(`${label}: ${res.status} ${res.text.slice(0, 2000)}`);
        const meta = JSON.parse(res.text).metadata;
        if (meta.size !== SIZE || meta.sha256 !== sha256)
          throw new Error(`${label}: stored ${meta.size} bytes, sha256 ${meta.sha256}; sent ${sha256}`);
      }),
    );
  const directUpload = (label) =>
    phase(label, async (count) => {
      const stream = createReadStream(file);
      count(() => stream.bytesRead);
      const up = new Upload({
        client: s3,
        params: {
          Bucket: infra.s3.bucket,
          Key: directKey,
          Body: stream,
          ContentType: 'application/octet-stream',
        },
        partSize: DIRECT_PART_SIZE,
        queueSize: DIRECT_QUEUE_SIZE,
      });
      const handle = { abort: () => void up.abort() };
      aborters.add(handle);
      try {
        await up.done();
      } finally {
        aborters.delete(handle);
      }
    });
  /** A download: `open(signal)` resolves with the body; it is counted, hashed and compared with the file. */
  const receive = (label, open) =>
    phase(label, (count) =>
      withAbort(async (signal) => {
        const sink = hashingSink();
        count(() => sink.bytes);
        await pipeline(await open(signal), sink);
        if (sink.bytes !== SIZE || sink.digest() !== sha256)
          throw new Error(`${label}: ${sink.bytes} bytes whose sha256 differs from the file's`);
      }),
    );
  const download = (label, base) =>
    receive(label, async (signal) => {
      const res = await new Promise((resolve, reject) => {
        http
          .get(`${base}/api/jobconfigs/${configId}/files/${FILE_KEY}`, { headers: auth, signal }, resolve)
          .on('error', reject);
      });
      if (res.statusCode !== 200)
        throw new Error(`${label}: ${res.statusCode} ${(await responseText(res)).slice(0, 2000)}`);
      if (Number(res.headers['content-length']) !== SIZE)
        throw new Error(`${label}: Content-Length ${res.headers['content-length']}, expected ${SIZE}`);
      return res;
    });
  const directDownload = (label) =>
    receive(label, async (signal) => {
      const out = await s3.send(new GetObjectCommand({ Bucket: infra.s3.bucket, Key: directKey }), {
        abortSignal: signal,
      });
      return out.Body;
    });

  // 3. Uploads: through the gateway, straight to S3, and (to tell the hops apart) to file-storage
  // without the gateway. 4. Downloads, in the same order.
  const fileStorage = platform.urls['file-storage'];
  const results = [];
  results.push(await upload('platform upload', gateway));
  results.push(await directUpload('direct upload'));
  if (HOPS) results.push(await upload('  file-storage upload (no gateway)', fileStorage));
  results.push(await download('platform download', gateway));
  results.push(await directDownload('direct download'));
  if (HOPS) results.push(await download('  file-storage download (no gateway)', fileStorage));
  await s3.send(new DeleteObjectCommand({ Bucket: infra.s3.bucket, Key: directKey }));
  const [up, directUp] = results;
  const down = results.find((r) => r.label === 'platform download');
  const directDown = results.find((r) => r.label === 'direct download');

  // 5. Figures.
  process.stdout.write(
    '\nCPU seconds from /proc/<pid>/stat; "other" = cores busy with anything else (PostgreSQL, Kafka, other work).\n',
  );
  const r1 = (v) => Math.round(v * 10) / 10;
  for (const p of results) {
    row(p.label, {
      'MB/s': r1(p.rate),
      seconds: r1(p.seconds),
      'sha256 verified': 'yes',
    });
    row('    CPU seconds', {
      ...Object.fromEntries(Object.entries(p.cpu).map(([n, s]) => [n, r1(s)])),
      other: `${r1(p.otherCores)} cores`,
    });
  }
  process.stdout.write('\n');
  ratio('upload: platform/direct MB/s', up.rate / directUp.rate, { atLeast: TARGET_RATIO });
  ratio('download: platform/direct MB/s', down.rate / directDown.rate, { atLeast: TARGET_RATIO });
  process.stdout.write('\n');
  for (const n of Object.keys(watched)) {
    // The phases this process takes part in: the gateway's, or all the platform's for file-storage.
    const platformPhases = results.filter(
      (r) => !r.label.startsWith('direct') && (n !== 'gateway' || !r.label.includes('no gateway')),
    );
    const peak = Math.max(...platformPhases.map((p) => p.peak[n]));
    const exact = platformPhases.every((p) => p.peakExact[n]);
    row(`RSS ${n}`, {
      idle: `${idle[n]} MB`,
      ...Object.fromEntries(platformPhases.map((p) => [p.label.trim(), `${Math.round(p.peak[n])} MB`])),
    });
    process.stdout.write(
      `${`peak RSS ${n} during the transfers`.padEnd(44)} ${Math.round(peak)} MB  ` +
        `(target < ${TARGET_RSS_MB} MB: ${peak < TARGET_RSS_MB ? 'met' : 'NOT met'}; ` +
        `${exact ? 'VmHWM reset per transfer, and' : ''} VmRSS every ${SAMPLE_MS} ms)\n`,
    );
  }
  process.stdout.write(
    'Preliminary unless the machine was otherwise idle: the client, the services and the S3 server share its cores and disk.\n',
  );
}

await main(benchmark, {
  name: 'bench:large',
  stopping: 'aborting the transfers, stopping the platform, removing the file',
  onSignal: () => {
    for (const a of aborters) a.abort();
  },
});
