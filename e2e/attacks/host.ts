import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

/** What the test sees of the host from outside every sandbox. */

/** The directory holding `name` under `root`, looking `depth` levels deep; undefined when none. */
export function findFile(root: string, name: string, depth = 5): string | undefined {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return undefined;
  }
  if (entries.some((e) => e.name === name && e.isFile())) return root;
  if (depth === 0) return undefined;
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const found = findFile(path.join(root, e.name), name, depth - 1);
    if (found) return found;
  }
  return undefined;
}

const cmdline = (pid: string) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
};

/** Host pids whose command line contains `fragment`. */
export function pidsWithCmdline(fragment: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n) && cmdline(n).includes(fragment))
    .map(Number);
}

/** The host's PID 1 command line (what a job sees when it shares the host's PID namespace). */
export const hostPid1Cmdline = () => cmdline('1');

/** The host's IPv4 addresses other than loopback: a job's way to the host around a loopback ban. */
export function hostAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4' && !a.internal)
    .map((a) => (a as os.NetworkInterfaceInfo).address);
}

/** GET http://127.0.0.1:9229/json/list from the host: whether some inspector listens. */
export function inspectorList(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: 9229, path: '/json/list', timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(undefined));
  });
}

/** POST a JSON body from a given local address (127.0.0.2 is another client on the same host). */
export function postFrom(
  localAddress: string,
  url: string,
  body: unknown,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
