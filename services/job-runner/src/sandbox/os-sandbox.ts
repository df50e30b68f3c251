import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { DiskWatch } from './disk-watch';
import { detectCgroups, JobCgroup, type CgroupVersion } from './job-cgroup';
import { JobIdentities } from './job-identity';
import { EgressNetwork, type JobNetworkMode } from './job-network';

/** Runs a sandbox command as the runner runs executors (same descriptors) and returns its stdout. */
function runOnce(cmd: SandboxCommand): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.command, cmd.args, {
      env: { PATH: TOOL_PATH },
      stdio: ['ignore', 'pipe', 'pipe', 'ignore', ...cmd.extraStdio],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    (child.stdio[4] as NodeJS.ReadableStream | null)?.resume();
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(Object.assign(new Error(`exit ${code ?? signal}`), { stderr: stderr.trim().slice(-1000) }));
    });
  });
}

/**
 * The OS boundary around every executor (ADR 0013): bubblewrap puts the job in its own user, PID,
 * IPC, UTS, mount, cgroup and network namespaces, under an unprivileged user id of its own, with a
 * read-only view of the system, the Node runtime and the executor's code, and only its own attempt
 * directory writable; a control group caps its memory (all of it) and tasks; rlimits cap CPU time,
 * file size and (per job uid) processes; a watch caps what it writes. Node's permission model stays
 * inside as a second line.
 */
export interface OsSandboxSettings {
  network: JobNetworkMode;
  /** The V8 heap cap, MiB (JOBS_MEMORY_MB); the whole job may use {@link NATIVE_HEADROOM_MB} more. */
  memoryMb: number;
  /** Tasks (processes and threads) of one job. */
  maxProcesses: number;
  /** CPU time of one process of the job, seconds. */
  cpuSeconds: number;
  /** What a job may write (its attempt directory's growth; also the largest file), MiB. */
  diskMb: number;
  /** First of the 65,536 user ids jobs run as (JOBS_UID_BASE). */
  uidBase: number;
}

/** Memory of a job beyond its heap cap: Node itself, buffers, native libraries. */
export const NATIVE_HEADROOM_MB = 128;

/** A limit the sandbox enforced on a job. */
export interface ResourceLimitHit {
  resource: 'memory' | 'processes' | 'cpu' | 'disk';
  /** The limit, as a person reads it: `640 MiB`, `64 tasks`, `3600 s`. */
  limit: string;
}

export function describeLimitHit(hit: ResourceLimitHit): string {
  return `resource-limit: ${hit.resource} ${hit.limit}`;
}

/** What the executor's attempt directory offers the sandbox. */
export interface SandboxWorkspace {
  dir: string;
  specDir: string;
}

/** How to start the executor inside the sandbox. */
export interface SandboxCommand {
  command: string;
  args: string[];
  /** What follows stdin, stdout, stderr and IPC: fd 4, a pipe for bubblewrap's info. */
  extraStdio: ('pipe' | number)[];
}

const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** Read-only files and directories of /etc that name resolution and TLS need. */
const ETC_ENTRIES = [
  '/etc/resolv.conf',
  '/etc/hosts',
  '/etc/nsswitch.conf',
  '/etc/host.conf',
  '/etc/gai.conf',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/pki',
  '/etc/localtime',
  '/etc/alternatives',
];
const TOOL_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

async function lstat(p: string) {
  return fs.lstat(p).catch(() => null);
}

async function which(tool: string): Promise<string | null> {
  for (const dir of TOOL_PATH.split(':')) {
    const p = path.join(dir, tool);
    if (
      await fs.access(p, fs.constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return p;
  }
  return null;
}

/** bubblewrap options giving a read-only view of `paths` (links kept as links), in order. */
async function readOnlyView(paths: readonly string[]): Promise<string[]> {
  const args: string[] = [];
  const seen = new Set<string>();
  for (const p of [...new Set(paths)].sort()) {
    if (seen.has(p)) continue;
    seen.add(p);
    const st = await lstat(p);
    if (!st) continue;
    if (st.isSymbolicLink()) args.push('--symlink', await fs.readlink(p), p);
    else args.push('--ro-bind', p, p);
  }
  return args;
}

export class OsSandbox {
  private readonly ids: JobIdentities;

  private constructor(
    private readonly settings: OsSandboxSettings,
    private readonly tools: Record<'bwrap' | 'prlimit' | 'setpriv' | 'nsenter', string>,
    private readonly cgroups: CgroupVersion | null,
    private readonly root: boolean,
    /** bubblewrap options of the read-only view shared by every job. */
    private readonly view: string[],
  ) {
    this.ids = new JobIdentities(settings.uidBase);
  }

  /**
   * Checks what this host offers and builds the sandbox. Throws, saying what to install or change,
   * when the boundary cannot be had here.
   */
  static async create(settings: OsSandboxSettings, codePaths: readonly string[]): Promise<OsSandbox> {
    if (process.platform !== 'linux')
      throw new Error(`the job sandbox needs Linux (this is ${process.platform})`);
    const found: Partial<
      Record<'bwrap' | 'prlimit' | 'setpriv' | 'nsenter' | 'slirp4netns' | 'unshare', string>
    > = {};
    const needed = ['bwrap', 'prlimit', 'setpriv', 'nsenter', 'unshare'] as const;
    for (const t of [...needed, 'slirp4netns'] as const) found[t] = (await which(t)) ?? undefined;
    if (!found.bwrap)
      throw new Error(
        'bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: apt-get install bubblewrap)',
      );
    const missing = needed.filter((t) => !found[t]);
    if (missing.length > 0)
      throw new Error(
        `${missing.join(', ')} not found: install util-linux (Debian: apt-get install util-linux)`,
      );
    const root = process.getuid?.() === 0;
    if (settings.network === 'egress') {
      if (!root)
        throw new Error(
          'JOBS_NETWORK=egress needs a runner running as root (it sets up each job a network namespace); set JOBS_NETWORK=none',
        );
      if (!found.slirp4netns)
        throw new Error(
          'JOBS_NETWORK=egress needs slirp4netns: install it (Debian/Ubuntu: apt-get install slirp4netns), or set JOBS_NETWORK=none',
        );
    }
    const cgroups = root ? await detectCgroups() : null;
    const system: string[] = [];
    for (const d of SYSTEM_DIRS) system.push(d);
    // The Node runtime wherever it is installed (a project-local runtime outside /usr too).
    const runtime = path.dirname(await fs.realpath(process.execPath));
    const view = await readOnlyView([...system, ...ETC_ENTRIES, runtime, ...codePaths]);
    const sandbox = new OsSandbox(
      settings,
      {
        bwrap: found.bwrap,
        prlimit: found.prlimit as string,
        setpriv: found.setpriv as string,
        nsenter: found.nsenter as string,
      },
      cgroups,
      root,
      view,
    );
    await sandbox.selfTest();
    return sandbox;
  }

  /**
   * Lets job user ids pass through `dir` and its parents (adds o+x, never o+r: nothing becomes
   * listable or readable): bubblewrap binds a job's directory as the job's user. Returns what changed.
   */
  static async openPathTo(dir: string): Promise<string[]> {
    if (process.getuid?.() !== 0) return [];
    const changed: string[] = [];
    for (let d = path.resolve(dir); ; d = path.dirname(d)) {
      const st = await fs.stat(d);
      if ((st.mode & 0o001) === 0) {
        await fs.chmod(d, (st.mode & 0o7777) | 0o001);
        changed.push(d);
      }
      if (path.dirname(d) === d) return changed;
    }
  }

  /** One line for the runner's start log. */
  describe(): string {
    const s = this.settings;
    return [
      `bubblewrap, ${this.root ? `a user id of its own per job (from ${s.uidBase})` : 'the runner’s user id mapped in a user namespace'}`,
      `network ${s.network}`,
      this.cgroups
        ? `cgroup v${this.cgroups}: memory ${s.memoryMb + NATIVE_HEADROOM_MB} MiB, ${s.maxProcesses} tasks`
        : 'no cgroup (memory beyond the heap and tasks not capped)',
      `cpu ${s.cpuSeconds} s per process, disk ${s.diskMb} MiB`,
    ].join('; ');
  }

  /** The ids and groups for one executor in `ws` (its directory must exist). */
  async prepare(ws: SandboxWorkspace): Promise<SandboxLease> {
    const uid = this.root ? this.ids.take() : (process.getuid?.() ?? 0);
    let cgroup: JobCgroup | null = null;
    let network: EgressNetwork | null = null;
    try {
      if (this.cgroups)
        cgroup = await JobCgroup.create(this.cgroups, `job-u${uid}-${randomUUID()}`, {
          memoryBytes: (this.settings.memoryMb + NATIVE_HEADROOM_MB) * 1024 * 1024,
          maxTasks: this.settings.maxProcesses,
        });
      if (this.settings.network === 'egress') network = await EgressNetwork.create();
      const lease = new SandboxLease(this, this.settings, ws, uid, cgroup, network, () =>
        this.root ? this.ids.release(uid) : undefined,
      );
      await lease.handOver();
      return lease;
    } catch (err) {
      await cgroup?.remove();
      await network?.close();
      if (this.root) this.ids.release(uid);
      throw err;
    }
  }

  /** @internal The command line of one executor. */
  commandFor(lease: SandboxLease, node: readonly string[]): SandboxCommand {
    const s = this.settings;
    const ws = lease.ws;
    const bwrap = [
      this.tools.bwrap,
      '--unshare-all',
      ...(s.network === 'none' ? [] : ['--share-net']),
      '--die-with-parent',
      '--new-session',
      '--hostname',
      'job',
      '--info-fd',
      '4',
      // A private /tmp first: the binds below may lie under it (the work dir defaults to /tmp/im-runner).
      '--tmpfs',
      '/tmp',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      ...this.view,
      '--bind',
      ws.dir,
      ws.dir,
      '--chdir',
      ws.specDir,
      '--',
      ...node,
    ];
    const diskBytes = s.diskMb * 1024 * 1024;
    const limits = [
      this.tools.prlimit,
      `--cpu=${s.cpuSeconds}:${s.cpuSeconds + 5}`,
      `--fsize=${diskBytes}`,
      '--core=0',
      // Per job user id; above the control group's cap when there is one, so that the group (whose
      // refusals are counted, and so reported) is what stops a fork bomb.
      ...(this.root ? [`--nproc=${s.maxProcesses + (this.cgroups ? 16 : 0)}`] : []),
      '--',
    ];
    const netns = lease.network
      ? [this.tools.nsenter, `--target=${lease.network.holderPid}`, '--net', '--']
      : [];
    const user = this.root
      ? [this.tools.setpriv, `--reuid=${lease.uid}`, `--regid=${lease.uid}`, '--clear-groups', '--']
      : [];
    const chain = [...limits, ...netns, ...user, ...bwrap];
    const join = lease.cgroup?.procsFiles ?? [];
    // The shell joins the control groups before anything of the job runs, then becomes the chain.
    const script = `for f in ${join.map((_, i) => `"$${i + 1}"`).join(' ')}; do echo $$ > "$f" || exit 125; done; shift ${join.length}; exec "$@"`;
    return {
      command: '/bin/sh',
      args: ['-c', script, 'sh', ...join, ...chain],
      extraStdio: ['pipe'],
    };
  }

  /** Runs `node -e` through the whole chain once: the boundary must work on this host. */
  private async selfTest(): Promise<void> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-sandbox-check-'));
    await OsSandbox.openPathTo(dir);
    const ws = { dir: path.join(dir, 'attempt'), specDir: path.join(dir, 'attempt') };
    await fs.mkdir(ws.dir);
    let lease: SandboxLease | null = null;
    try {
      lease = await this.prepare(ws);
      const probe = `const fs=require('fs');const seen=fs.readdirSync('/proc').filter(n=>/^\\d+$/.test(n)).length;process.stdout.write(JSON.stringify({uid:process.getuid(),seen}))`;
      const cmd = lease.command([process.execPath, '-e', probe]);
      const stdout = await runOnce(cmd);
      const got = JSON.parse(stdout) as { uid: number; seen: number };
      if (this.root && got.uid === 0) throw new Error('the job ran as root');
      if (got.seen > 3) throw new Error(`the job saw ${got.seen} processes: no PID namespace`);
    } catch (err) {
      const e = err as Error & { stderr?: string };
      const detail = e.stderr?.trim().split('\n').slice(-3).join(' | ') || e.message;
      throw new Error(`a job cannot be started inside the sandbox on this host: ${detail}`);
    } finally {
      await lease?.finish();
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
}

/**
 * One executor's place in the sandbox: its user id, control group and network, from before it starts
 * until {@link finish} after it ended.
 */
export class SandboxLease {
  private watch: DiskWatch | null = null;
  private hit: ResourceLimitHit | null = null;
  private innerPid: number | undefined;
  private finished = false;

  constructor(
    private readonly sandbox: OsSandbox,
    private readonly settings: OsSandboxSettings,
    readonly ws: SandboxWorkspace,
    readonly uid: number,
    readonly cgroup: JobCgroup | null,
    readonly network: EgressNetwork | null,
    private readonly releaseId: () => void,
  ) {}

  /** The command line that starts `node` (its argv, the binary first) inside the sandbox. */
  command(node: readonly string[]): SandboxCommand {
    return this.sandbox.commandFor(this, node);
  }

  /** Gives the attempt directory (and all in it, e.g. the unpacked package) to the job's user. */
  async handOver(): Promise<void> {
    if (process.getuid?.() !== 0) return;
    const walk = async (p: string): Promise<void> => {
      const st = await fs.lstat(p).catch(() => null);
      if (!st || st.isSymbolicLink()) return;
      if (st.uid !== this.uid) await fs.lchown(p, this.uid, this.uid);
      if (st.isDirectory()) for (const e of await fs.readdir(p)) await walk(path.join(p, e));
    };
    await walk(this.ws.dir);
  }

  /**
   * Called once the executor was spawned: reads bubblewrap's info (the sandbox's first process) and
   * starts watching what the job writes; `kill` stops the job when it writes too much.
   */
  started(child: ChildProcess, kill: () => void): void {
    const info = child.stdio[4] as NodeJS.ReadableStream | null | undefined;
    let text = '';
    info?.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (m) this.innerPid = Number(m[1]);
    });
    info?.on('error', () => undefined);
    const limit = this.settings.diskMb * 1024 * 1024;
    this.watch = new DiskWatch(this.ws.dir, limit, () => {
      this.hit ??= { resource: 'disk', limit: `${this.settings.diskMb} MiB` };
      kill();
      void this.cgroup?.killAll();
    });
    void this.watch.start();
  }

  /**
   * The processes to ask to stop (SIGTERM) before the kill: the job's own, not bubblewrap's. Empty
   * when they cannot be told apart (no control group): then the whole sandbox is stopped at once.
   */
  async stopTargets(bwrapPid: number | undefined): Promise<number[]> {
    if (!this.cgroup) return [];
    return (await this.cgroup.pids()).filter((p) => p !== bwrapPid && p !== this.innerPid);
  }

  /**
   * After the executor ended: which limit (if any) ended it, judged from the control group's events
   * and the signal; then everything left is killed and the group, network and user id released.
   */
  async finish(signal: NodeJS.Signals | null = null): Promise<ResourceLimitHit | null> {
    if (this.finished) return this.hit;
    this.finished = true;
    this.watch?.stop();
    const s = this.settings;
    const events = await this.cgroup?.events();
    if (!this.hit) {
      if (events && events.oomKills > 0)
        this.hit = { resource: 'memory', limit: `${s.memoryMb + NATIVE_HEADROOM_MB} MiB` };
      else if (signal === 'SIGXCPU') this.hit = { resource: 'cpu', limit: `${s.cpuSeconds} s` };
      else if (signal === 'SIGXFSZ') this.hit = { resource: 'disk', limit: `${s.diskMb} MiB` };
      else if (events && events.taskLimitHits > 0)
        this.hit = { resource: 'processes', limit: `${s.maxProcesses} tasks` };
    }
    await this.cgroup?.remove();
    await this.network?.close();
    this.releaseId();
    return this.hit;
  }
}
