import { silentLogger } from '@im/logging';
import { LocalObjectStorage, type ObjectStorage } from '@im/storage';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { formatLogLine, JobLogWriter, maskSecrets, type JobLogWriterOptions } from './job-log.writer';

async function text(storage: ObjectStorage, key: string): Promise<string | null> {
  const obj = await storage.get(key);
  if (!obj) return null;
  const chunks: Buffer[] = [];
  for await (const c of obj.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('JobLogWriter', () => {
  let dir: string;
  let storage: LocalObjectStorage;
  const at = new Date('2026-11-28T10:15:31.004Z');

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-joblog-'));
    storage = await LocalObjectStorage.open(path.join(dir, 'objects'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  function options(extra: Partial<JobLogWriterOptions> = {}): JobLogWriterOptions {
    return {
      file: path.join(dir, 'job.log'),
      storage,
      key: 'jobs/j1/log.txt',
      flushMs: 60_000,
      level: 'INFO',
      secrets: [],
      logger: silentLogger(),
      clock: () => at,
      ...extra,
    };
  }

  it('formats lines as "<ISO time> <LEVEL padded> [source] text"', () => {
    expect(formatLogLine(at, 'INFO', 'entry', 'text')).toBe('2026-11-28T10:15:31.004Z INFO  [entry] text\n');
    expect(formatLogLine(at, 'WARNING', 'runner', 'x')).toBe('2026-11-28T10:15:31.004Z WARNING [runner] x\n');
    expect(formatLogLine(at, 'SEVERE', 'step:a', 'x')).toBe('2026-11-28T10:15:31.004Z SEVERE [step:a] x\n');
  });

  it('masks secrets, longest first', () => {
    expect(
      maskSecrets(
        'pw=abc123 and abc',
        ['abc', 'abc123'].sort((a, b) => b.length - a.length),
      ),
    ).toBe('pw=**** and ****');
  });

  it('masks a secret printed base64, base64url, hex or reversed too (a second line, ADR 0016)', async () => {
    const secret = 'Sup3r?S3cret>>';
    const b = Buffer.from(secret);
    const w = await JobLogWriter.open(options({ secrets: [secret, 'ab'] }));
    for (const shown of [
      b.toString('base64'),
      b.toString('base64').replace(/=+$/, ''),
      b.toString('base64url'),
      b.toString('hex'),
      b.toString('hex').toUpperCase(),
      [...secret].reverse().join(''),
    ])
      w.write('INFO', 'entry', `leak ${shown} end`);
    // Too short to mask in its encodings: "ab" reversed is not masked.
    w.write('INFO', 'entry', 'ba stays');
    await w.close();
    const lines = (await text(storage, 'jobs/j1/log.txt'))?.split('\n').filter(Boolean) ?? [];
    expect(lines.slice(0, 6).map((l) => l.replace(/^.*\[entry\] /, ''))).toEqual(
      Array<string>(6).fill('leak **** end'),
    );
    expect(lines[6]).toMatch(/\[entry\] ba stays$/);
  });

  it('drops lines above the level, masks secrets (also each line of a multi-line one) and uploads on close', async () => {
    const w = await JobLogWriter.open(options({ secrets: ['hunter2', 'line-one\nline-two', ''] }));
    w.write('INFO', 'runner', 'password is hunter2');
    w.write('DEBUG', 'runner', 'not shown');
    w.write('SEVERE', 'entry', 'second line-two of the secret');
    await w.close();
    w.write('INFO', 'runner', 'after close: dropped');
    expect(await text(storage, 'jobs/j1/log.txt')).toBe(
      '2026-11-28T10:15:31.004Z INFO  [runner] password is ****\n2026-11-28T10:15:31.004Z SEVERE [entry] second **** of the secret\n',
    );
  });

  it('uploads at once when a job starts logging, then at most every flushMs, and once more at the end', async () => {
    let puts = 0;
    let firstPut: () => void = () => undefined;
    const firstPutSeen = new Promise<void>((r) => (firstPut = r));
    const counting = Object.create(storage) as ObjectStorage;
    counting.put = async (key, body, opts) => {
      const r = await storage.put(key, body, opts);
      puts++;
      firstPut();
      return r;
    };
    const w = await JobLogWriter.open(options({ storage: counting, flushMs: 30_000 }));
    w.write('INFO', 'runner', 'one');
    await firstPutSeen;
    expect(await text(storage, 'jobs/j1/log.txt')).toContain('one');
    w.write('INFO', 'runner', 'two');
    w.write('INFO', 'runner', 'three');
    await w.close();
    expect(puts).toBe(2);
    expect((await text(storage, 'jobs/j1/log.txt'))?.split('\n').filter(Boolean)).toHaveLength(3);
  });

  it('starts from a seed (the log of an earlier attempt)', async () => {
    const w = await JobLogWriter.open(options({ seed: Readable.from([Buffer.from('earlier attempt\n')]) }));
    w.write('INFO', 'runner', 'attempt 2');
    await w.close();
    expect(await text(storage, 'jobs/j1/log.txt')).toBe(
      'earlier attempt\n2026-11-28T10:15:31.004Z INFO  [runner] attempt 2\n',
    );
  });

  it('retries the final upload, then gives up with the error', async () => {
    const failing = Object.create(storage) as ObjectStorage;
    let calls = 0;
    failing.put = async () => {
      calls++;
      throw new Error('storage down');
    };
    const w = await JobLogWriter.open(options({ storage: failing, finalUploadAttempts: 2 }));
    await expect(w.close()).rejects.toThrow('storage down');
    expect(calls).toBe(2);
  });
});
