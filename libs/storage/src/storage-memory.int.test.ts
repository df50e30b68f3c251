import { infraEnv, uniqueName } from '@im/testing';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

/**
 * A 200 MB file streamed up to the real S3 server and back in a process of its own, whose peak
 * resident memory must stay under 150 MB: nothing on the path holds a file whole.
 */
describe('S3 streaming memory', () => {
  it('uploads and downloads 200 MB intact with peak RSS under 150 MB', async () => {
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
      maxRssMb: number;
    };
    expect(r.size).toBe(200 * 1024 * 1024);
    expect(r.uploaded).toBe(r.size);
    expect(r.sha256Down).toBe(r.sha256Up);
    expect(r.maxRssMb).toBeLessThan(150);
  }, 180_000);
});
