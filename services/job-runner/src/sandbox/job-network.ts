import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/**
 * The network of a job (JOBS_NETWORK):
 * - `none`: a network namespace with only its own loopback; nothing outside is reachable;
 * - `egress`: a network namespace whose only way out is slirp4netns, a user-mode TCP/IP stack, with
 *   the host's loopback disabled: other hosts (and DNS through slirp's resolver) are reachable, the
 *   platform's loopback services (API, internal ports, PostgreSQL, Kafka, object storage on 127.0.0.1,
 *   inspector ports) are not;
 * - `host`: the runner's own network, loopback included. Only where every package is trusted.
 */
export type JobNetworkMode = 'none' | 'egress' | 'host';

/** How long setting up an egress namespace may take before it counts as failed. */
const SETUP_TIMEOUT_MS = 10_000;

/**
 * One egress namespace: a holder process that keeps it alive (`unshare --net`), and slirp4netns
 * attached to it. The executor joins it with `nsenter --target <holder> --net`.
 */
export class EgressNetwork {
  private constructor(
    private readonly holder: ChildProcess,
    private readonly slirp: ChildProcess,
  ) {}

  get holderPid(): number {
    return this.holder.pid as number;
  }

  static async create(): Promise<EgressNetwork> {
    // The holder says "ready" only once it is in its own namespace, so slirp4netns never attaches to
    // the runner's.
    // Both die with the runner: the holder by its parent-death signal, slirp4netns when its exit pipe
    // (whose other end only the runner holds) closes.
    const holder = spawn(
      'setpriv',
      [
        '--pdeathsig',
        'KILL',
        '--',
        'unshare',
        '--net',
        '--',
        '/bin/sh',
        '-c',
        'echo ready; exec sleep infinity',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      },
    );
    let slirp: ChildProcess | undefined;
    try {
      await waitFor(holder, holder.stdout, /ready/, 'unshare --net');
      slirp = spawn(
        'slirp4netns',
        [
          '--configure',
          '--mtu=65520',
          '--disable-host-loopback',
          '--enable-sandbox',
          '--enable-seccomp',
          '--ready-fd=3',
          '--exit-fd=4',
          String(holder.pid),
          'tap0',
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        },
      );
      await waitFor(slirp, slirp.stdio[3] as NodeJS.ReadableStream, /1/, 'slirp4netns');
      return new EgressNetwork(holder, slirp);
    } catch (err) {
      slirp?.kill('SIGKILL');
      holder.kill('SIGKILL');
      throw err;
    }
  }

  /** Stops slirp4netns and the holder: the namespace goes with them. */
  async close(): Promise<void> {
    for (const p of [this.slirp, this.holder]) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGKILL');
        await once(p, 'exit').catch(() => undefined);
      }
    }
  }
}

/** Resolves when `stream` says `ready`; rejects when the process ends or errs first, or on timeout. */
async function waitFor(
  proc: ChildProcess,
  stream: NodeJS.ReadableStream | null,
  ready: RegExp,
  what: string,
): Promise<void> {
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => fail(new Error(`${what} did not get ready within ${SETUP_TIMEOUT_MS} ms`)),
      SETUP_TIMEOUT_MS,
    );
    const done = () => {
      clearTimeout(timer);
      proc.off('exit', onExit);
      proc.off('error', fail);
      stream?.off('data', onData);
    };
    const fail = (err: Error) => {
      done();
      reject(err);
    };
    const onExit = (code: number | null) =>
      fail(new Error(`${what} exited (${code ?? 'signal'}) while setting up: ${stderr.trim().slice(-500)}`));
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (ready.test(seen)) {
        done();
        resolve();
      }
    };
    proc.once('exit', onExit);
    proc.once('error', fail);
    stream?.on('data', onData);
  });
}
