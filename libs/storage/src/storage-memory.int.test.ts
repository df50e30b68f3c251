import { infraEnv, uniqueName } from '@im/testing';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

/**
 * A 200 MB file streamed up to the real S3 server and back in a process of its own, whose peak
 * resident memory may grow by less than half the file (100 MB) over its peak after a 4 MB warm-up
 * round trip: nothing on the path holds a file whole (that alone would add 200 MB). Measured: 30-40 MB
 * (parts in flight), up to ~60 MB on a loaded machine. The growth, not the absolute peak, is bounded:
 * that ranges from ~110 MB to ~180 MB with the machine and its load.
 */
describe('S3 streaming memory', () => {
  it('uploads and downloads 200 MB intact, its peak RSS growing by less than half the file', async () => {
    infraEnv();
    const out = await new Promise<string>((resolve, reject) => {
      const probe = path.join(__dirname, '..', 'scripts', 'stream-probe.cjs');
      const child = spawn(process.execPath, ['--expose-gc', probe], {
        env: { ...process.env, STREAM_PROBE_MB: '200', STREAM_PROBE_PREFIX: `${uniqueName('probe')}/` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) =>
        code === 0 ? resolve(stdout) : reject(new Error(`probe exited ${code}: ${stderr}`)),
      );
    });
    const r = JSON.parse(out) as {
      size: number;
      uploaded: number;
      sha256Up: string;
      sha256Down: string;
      baselineRssMb: number;
      maxRssMb: number;
    };
    process.stdout.write(
      `S3 round trip peak RSS: after warm-up ${r.baselineRssMb} MB, after 200 MB ${r.maxRssMb} MB\n`,
    );
    expect(r.size).toBe(200 * 1024 * 1024);
    expect(r.uploaded).toBe(r.size);
    expect(r.sha256Down).toBe(r.sha256Up);
    expect(r.maxRssMb - r.baselineRssMb).toBeLessThan(100);
  }, 180_000);
});
