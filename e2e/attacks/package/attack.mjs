// The attack package's one script (e2e/attacks/README.md). It runs as an ordinary job of the platform
// and tries, as a hostile package author would, to reach beyond its job. The macro ATTACK names what
// to try; ATTACK_PLAN (JSON) holds what the test knows from outside: host pids, paths, ports, limits.
// Every attempt is appended to out/report.json as soon as it is made, so a job that a defence kills
// half-way still tells what it saw. The script judges nothing: the test decides from the report and
// from what a user of the platform sees (job status, reason, the platform still serving).
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

const errorOf = (e) => (e && (e.code ?? e.message)) || String(e);
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export default async function ({ macros, logger, outputDir }) {
  const attack = macros.ATTACK;
  const plan = JSON.parse(macros.ATTACK_PLAN || '{}');
  const report = { attack, pid: process.pid, ppid: process.ppid, uid: process.getuid?.(), attempts: [] };
  const save = () => {
    try {
      fs.writeFileSync(path.join(outputDir, 'report.json'), JSON.stringify(report));
    } catch (e) {
      logger.error(`report not written: ${errorOf(e)}`);
    }
  };
  /** Runs one attempt; `ok` says that the step itself went through (not that the attack succeeded). */
  const attempt = async (what, fn) => {
    try {
      report.attempts.push({ what, ok: true, detail: await fn() });
    } catch (e) {
      report.attempts.push({ what, ok: false, error: errorOf(e) });
    }
    save();
  };
  save();
  logger.info(`attack ${attack} starting as pid ${process.pid} (ppid ${process.ppid})`);
  const attacks = { victim, inspector, 'kill-parent': killParent, sibling, pid1, proc, files, network };
  const bombs = { 'fork-bomb': forkBomb, 'memory-bomb': memoryBomb, 'disk-fill': diskFill };
  const run = attacks[attack] ?? bombs[attack];
  if (!run) throw new Error(`unknown ATTACK ${attack}`);
  await run({ plan, attempt, report, save, logger, outputDir });
  save();
  logger.info(`attack ${attack} done`);
}

/** A job that only lives until the test releases it: the sibling the other attacks aim at. */
async function victim({ plan, logger, outputDir }) {
  process.title = `im-victim-${plan.mark}`;
  fs.writeFileSync(path.join(outputDir, `victim-${plan.mark}.txt`), String(process.pid));
  logger.info('victim started');
  const release = path.join(outputDir, 'release');
  const deadline = Date.now() + (plan.seconds ?? 90) * 1000;
  while (!fs.existsSync(release)) {
    if (Date.now() > deadline) throw new Error('victim was never released');
    await pause(100);
  }
  fs.rmSync(release, { force: true });
  fs.writeFileSync(path.join(outputDir, 'alive.json'), JSON.stringify({ alive: true }));
  logger.info('victim released, alive');
}

/** GET http://host:port/path with a short timeout; resolves with the body. */
function get(host, port, p, timeoutMs = 500) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: p, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body.slice(0, 2000)));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** SIGUSR1 to the parent and to the runner's host pid, then the inspector it would open. */
async function inspector({ plan, attempt }) {
  await attempt('SIGUSR1 to the parent', () => {
    if (process.ppid <= 1) throw new Error(`no parent to signal (ppid ${process.ppid})`);
    process.kill(process.ppid, 'SIGUSR1');
    return process.ppid;
  });
  for (const pid of plan.runnerPids ?? [])
    await attempt(`SIGUSR1 to the runner (host pid ${pid})`, () => process.kill(pid, 'SIGUSR1'));
  await attempt('inspector 127.0.0.1:9229 /json/list', async () => {
    const deadline = Date.now() + 3000;
    for (;;) {
      try {
        return await get('127.0.0.1', 9229, '/json/list');
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await pause(100);
      }
    }
  });
}

/** SIGKILL to the parent and to the runner's host pid. */
async function killParent({ plan, attempt }) {
  for (const pid of plan.runnerPids ?? [])
    await attempt(`SIGKILL to the runner (host pid ${pid})`, () => process.kill(pid, 'SIGKILL'));
  await attempt('SIGKILL to the parent', () => {
    if (process.ppid <= 1) throw new Error(`no parent to signal (ppid ${process.ppid})`);
    process.kill(process.ppid, 'SIGKILL');
    return process.ppid;
  });
}

/** Lists the pids in /proc (whatever this job can see). */
function visiblePids() {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

const readText = (file, max = 4096) => {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(max);
    const n = fs.readSync(fd, buf, 0, max, null);
    return buf.subarray(0, n).toString('utf8').replace(/\0/g, ' ');
  } finally {
    fs.closeSync(fd);
  }
};

/** SIGUSR1 and SIGKILL to the sibling job: the host pids the test found, and any victim it can see. */
async function sibling({ plan, attempt }) {
  const targets = new Set(plan.victimPids ?? []);
  await attempt('find the sibling in /proc', () => {
    const found = [];
    for (const pid of visiblePids()) {
      try {
        if (readText(`/proc/${pid}/cmdline`).includes(`im-victim-${plan.mark}`)) found.push(pid);
      } catch {
        // gone or not readable
      }
    }
    found.forEach((p) => targets.add(p));
    return found;
  });
  for (const pid of targets) {
    await attempt(`SIGUSR1 to the sibling (pid ${pid})`, () => process.kill(pid, 'SIGUSR1'));
    await attempt(`SIGKILL to the sibling (pid ${pid})`, () => process.kill(pid, 'SIGKILL'));
  }
}

/** PID 1: may this job signal it (signal 0 only: the test never harms the host), and which is it. */
async function pid1({ attempt }) {
  await attempt('signal 0 to PID 1', () => process.kill(1, 0));
  await attempt('/proc/1/cmdline', () => readText('/proc/1/cmdline'));
}

/** Reads /proc/<pid>/{cmdline,environ,mem} of every process it sees or the test named; opens mem for writing. */
async function proc({ plan, attempt, report }) {
  const pids = new Set([...(plan.runnerPids ?? []), ...(plan.victimPids ?? [])]);
  await attempt('list /proc', () => {
    visiblePids().forEach((p) => pids.add(p));
    return [...pids].length;
  });
  pids.delete(process.pid);
  report.processes = [];
  for (const pid of pids) {
    const seen = { pid };
    for (const f of ['cmdline', 'environ']) {
      try {
        seen[f] = readText(`/proc/${pid}/${f}`);
      } catch (e) {
        seen[`${f}Error`] = errorOf(e);
      }
    }
    try {
      const maps = readText(`/proc/${pid}/maps`, 65536).split('\n');
      const region = maps.find((l) => /^[0-9a-f]+-[0-9a-f]+ r/.test(l));
      const start = region ? Number.parseInt(region.split('-')[0], 16) : 0;
      const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
      try {
        seen.memRead = fs.readSync(fd, Buffer.alloc(16), 0, 16, start) > 0;
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      seen.memReadError = errorOf(e);
    }
    try {
      // Opening for writing needs the same right as ptrace(PTRACE_ATTACH); nothing is written.
      fs.closeSync(fs.openSync(`/proc/${pid}/mem`, 'r+'));
      seen.memWritable = true;
    } catch (e) {
      seen.memWriteError = errorOf(e);
    }
    report.processes.push(seen);
  }
}

/** Reads the platform's keys, databases and another job's directory; lists the work dir; plants a file. */
async function files({ plan, attempt, outputDir }) {
  for (const file of plan.readFiles ?? []) await attempt(`read ${file}`, () => readText(file, 256).length);
  // The names on the way to this job's own directory are no secret (a sandbox may mount it where it was).
  const own = new Set(outputDir.split(path.sep));
  for (const dir of plan.listDirs ?? [])
    await attempt(`list ${dir}`, () => fs.readdirSync(dir).filter((n) => !own.has(n)));
  for (const dir of plan.scanDirs ?? [])
    await attempt(`look for keys under ${dir}`, () =>
      fs
        .readdirSync(dir)
        .filter((n) => n.startsWith('im-keys-'))
        .map((n) => `${n}: ${readText(path.join(dir, n, 'private.pem'), 64).length} bytes read`),
    );
  for (const dir of plan.writeDirs ?? [])
    await attempt(`write into ${dir}`, () => fs.writeFileSync(path.join(dir, 'planted-by-attack.txt'), 'x'));
  await attempt('own out dir is writable (control)', () => fs.writeFileSync(path.join(outputDir, 'x'), 'x'));
}

/**
 * What a service of each kind is asked, and how its answer is told from anything else's: a
 * connection alone proves nothing (a transparent proxy accepts any port, and may answer HTTP).
 */
const HELLO = {
  http: (t) => Buffer.from(`GET ${t.path ?? '/'} HTTP/1.0\r\nHost: localhost\r\n\r\n`),
  // PostgreSQL's SSLRequest: the server answers one byte, S or N.
  postgres: () => Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]),
  // Kafka's ApiVersions v0 with correlation id 0x1d1d and client id "x".
  kafka: () => Buffer.from([0, 0, 0, 11, 0, 18, 0, 0, 0, 0, 0x1d, 0x1d, 0, 1, 0x78]),
};
const ANSWERED = {
  http: (b, t) => b.subarray(0, 7).toString() === 'HTTP/1.' && b.toString('latin1').includes(t.expect ?? ''),
  postgres: (b) => b.length === 1 && (b[0] === 0x53 || b[0] === 0x4e),
  kafka: (b) => b.length >= 8 && b.readInt32BE(4) === 0x1d1d,
};
/** Bytes enough to judge; HTTP/1.0 answers are read to their end. */
const ENOUGH = { http: 65536, postgres: 1, kafka: 8 };

/** Talks to the platform's ports, the inspector, the broker and the database, in their protocols. */
async function network({ plan, attempt }) {
  const talk = (host, t) =>
    new Promise((resolve, reject) => {
      const s = net.connect({ host, port: t.port, timeout: 1500 });
      let got = Buffer.alloc(0);
      const judge = () => {
        s.destroy();
        if (ANSWERED[t.kind](got, t)) resolve(`answered as ${t.kind}`);
        else reject(new Error(got.length ? `connected, no ${t.kind} answer of the service` : 'no answer'));
      };
      s.once('connect', () => s.write(HELLO[t.kind](t)));
      s.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (got.length >= ENOUGH[t.kind]) judge();
      });
      s.once('timeout', () => s.destroy(new Error('timeout')));
      s.once('error', reject);
      s.once('end', judge);
    });
  await Promise.all(
    (plan.targets ?? []).flatMap((t) =>
      (plan.hosts ?? ['127.0.0.1']).map((host) =>
        attempt(`${t.name} ${host}:${t.port}`, () => talk(host, t)),
      ),
    ),
  );
}

/** Starts processes until refused, more than the limit; kills them again. */
async function forkBomb({ plan, attempt, report }) {
  const children = [];
  const want = (plan.maxProcesses ?? 64) * 2;
  await attempt(`start ${want} processes`, async () => {
    try {
      for (let i = 0; i < want; i++) {
        const c = cp.spawn('sleep', ['30'], { stdio: 'ignore' });
        children.push(c);
        await new Promise((resolve, reject) => {
          c.once('spawn', resolve);
          c.once('error', reject);
        });
      }
    } finally {
      report.started = children.filter((c) => c.pid !== undefined && c.exitCode === null).length;
    }
    return report.started;
  });
  for (const c of children) c.kill('SIGKILL');
}

/** Buffer.alloc outside the V8 heap, 16 MiB at a time, to twice the memory limit. */
async function memoryBomb({ plan, attempt, report, save }) {
  const held = [];
  report.allocatedMb = 0;
  await attempt(`allocate ${plan.memoryMb * 2} MiB outside the heap`, async () => {
    while (report.allocatedMb < plan.memoryMb * 2) {
      held.push(Buffer.alloc(16 * 1024 * 1024, 1));
      report.allocatedMb += 16;
      save();
    }
    return report.allocatedMb;
  });
}

/** Writes 1 MiB at a time into out/ to twice the disk limit; the file is removed afterwards. */
async function diskFill({ plan, attempt, report, save, outputDir }) {
  const file = path.join(outputDir, 'fill.bin');
  report.writtenMb = 0;
  const chunk = Buffer.alloc(1024 * 1024, 7);
  await attempt(`write ${plan.diskMb * 2} MiB into out/`, () => {
    const fd = fs.openSync(file, 'w');
    try {
      while (report.writtenMb < plan.diskMb * 2) {
        fs.writeSync(fd, chunk);
        report.writtenMb += 1;
      }
    } finally {
      fs.closeSync(fd);
    }
    return report.writtenMb;
  });
  fs.rmSync(file, { force: true });
  save();
}
