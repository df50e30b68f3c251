import { platformNodeOptions } from '@im/config';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export interface PlatformProcess {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  child: ChildProcess;
}

const repoRoot = path.resolve(__dirname, '..', '..', '..');

/**
 * Starts the built standalone platform (services/standalone/dist/main.js) as a real process on a free
 * port, with the platform's Node options (`--disable-sigusr1`), and resolves once it says where it
 * listens.
 */
export function startStandalone(env: Record<string, string>, timeoutMs = 30_000): Promise<PlatformProcess> {
  const main = path.join(repoRoot, 'services', 'standalone', 'dist', 'main.js');
  const child = spawn(process.execPath, [...platformNodeOptions(), main], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: '0',
      LOG_LEVEL: 'warn',
      // Tests and benchmarks hammer one platform from one address with one token: no rate limits.
      GATEWAY_RATE_LIMIT_PER_MINUTE: '0',
      GATEWAY_RATE_LIMIT_PER_IP_PER_MINUTE: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`The platform did not start within ${timeoutMs} ms. Output:\n${out}`));
    }, timeoutMs);
    const onData = () => {
      const m = /running at (http:\/\/[^\s/]+)\/api/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve({
        url: m[1] as string,
        output: () => out,
        child,
        stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      });
    };
    child.stdout.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`The platform exited (code ${code}) before it was ready. Output:\n${out}`));
    });
  });
}
