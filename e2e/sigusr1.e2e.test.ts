import {
  startDistributed,
  startStandalone,
  waitFor,
  type DistributedPlatform,
  type PlatformProcess,
} from '@im/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * SIGUSR1 opens the inspector of a Node process that runs without `--disable-sigusr1`, and whoever
 * reaches the inspector runs code inside that process (issue 13: a job signalled its runner). Every
 * platform process starts with the option (libs/config/src/node-options.ts), so a SIGUSR1 changes
 * nothing: each process stays up, answers, and listens on no new port.
 *
 * A control process, started as the platform's processes would be without the option (same Node,
 * inspector port 0 so that it takes no fixed port), gets the same signal at the same time: the
 * checks run only once its inspector listens, so they cannot pass merely by looking too early.
 */

/** Inodes of the TCP sockets `pid` listens on (from /proc: other processes of this machine may hold port 9229). */
function listeningSockets(pid: number): Set<string> {
  const own = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) own.add(m[1] as string);
    } catch {
      // closed meanwhile
    }
  }
  const listening = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // st 0A = LISTEN; column 9 is the socket's inode.
      if (cols[3] === '0A' && own.has(cols[9] as string)) listening.add(cols[9] as string);
    }
  }
  return listening;
}

/** A Node process that behaves as the platform would without the option: SIGUSR1 opens its inspector. */
function startControl(): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ['--inspect-port=0', '-e', 'setInterval(() => {}, 1000)'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let out = '';
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

/**
 * Sends SIGUSR1 to each process and to a control; once the control's inspector listens and each
 * process has answered `/healthz` since, checks that none of them listens on a new socket.
 */
async function signalAndCheck(targets: { name: string; pid: number; url: string; output: () => string }[]) {
  const control = startControl();
  try {
    await waitFor(() => (control.child.pid !== undefined ? true : undefined), {
      what: 'the control to start',
    });
    const before = new Map(targets.map((t) => [t.name, listeningSockets(t.pid)]));
    for (const t of targets) process.kill(t.pid, 'SIGUSR1');
    process.kill(control.child.pid as number, 'SIGUSR1');
    await waitFor(() => (/Debugger listening on ws:/.test(control.output()) ? true : undefined), {
      what: "the control's inspector to listen (SIGUSR1 without --disable-sigusr1)",
    });
    expect(listeningSockets(control.child.pid as number).size).toBe(1);

    for (const t of targets) {
      const res = await fetch(`${t.url}/healthz`);
      expect({ name: t.name, status: res.status }).toEqual({ name: t.name, status: 200 });
      expect({ name: t.name, alive: process.kill(t.pid, 0) }).toEqual({ name: t.name, alive: true });
      expect({ name: t.name, listening: [...listeningSockets(t.pid)].sort() }).toEqual({
        name: t.name,
        listening: [...(before.get(t.name) as Set<string>)].sort(),
      });
      expect(t.output()).not.toMatch(/Debugger listening|Starting inspector/);
    }
  } finally {
    control.child.kill('SIGKILL');
  }
}

describe('SIGUSR1 opens no inspector', () => {
  it('in the standalone platform', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-sigusr1-'));
    let p: PlatformProcess | undefined;
    try {
      p = await startStandalone({ IM_DATA_DIR: dir, IM_ADMIN_PASSWORD: 'sigusr1-admin-123' });
      const platform = p;
      await signalAndCheck([
        { name: 'standalone', pid: platform.child.pid as number, url: platform.url, output: platform.output },
      ]);
      expect(await platform.stop()).toBe(0);
    } finally {
      await p?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in every process of the distributed platform', async () => {
    let d: DistributedPlatform | undefined;
    try {
      d = await startDistributed();
      const platform = d;
      await signalAndCheck(
        platform.names.map((name) => ({
          name,
          pid: platform.processes[name]?.pid as number,
          url: platform.urls[name] as string,
          output: () => platform.output(name),
        })),
      );
    } finally {
      await d?.stop();
    }
  });
});
