import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/**
 * A control group per executor: caps all the memory of the job (heap, buffers, native memory, tmpfs
 * pages) and the number of its tasks (processes and threads), and tells afterwards whether a cap was
 * hit. cgroup v2 (`/sys/fs/cgroup/cgroup.controllers`) or v1 (`/sys/fs/cgroup/{memory,pids}`); the
 * runner must be allowed to create groups there (root, or a delegated subtree).
 */
export type CgroupVersion = 1 | 2;

export interface CgroupLimits {
  memoryBytes: number;
  maxTasks: number;
}

/** What a group saw: how often the kernel killed for memory, refused a task. */
export interface CgroupEvents {
  oomKills: number;
  taskLimitHits: number;
}

const ROOT = '/sys/fs/cgroup';
/** The parent group of every executor's group. */
export const CGROUP_PARENT = 'integration-manager';

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

/** The cgroup version usable here for executors, or null (not Linux, not mounted, not writable). */
export async function detectCgroups(root = ROOT): Promise<CgroupVersion | null> {
  if (process.platform !== 'linux') return null;
  if (await exists(path.join(root, 'cgroup.controllers'))) {
    const controllers = await fs.readFile(path.join(root, 'cgroup.controllers'), 'utf8').catch(() => '');
    if (!/\bmemory\b/.test(controllers) || !/\bpids\b/.test(controllers)) return null;
    try {
      const parent = path.join(root, CGROUP_PARENT);
      await fs.mkdir(parent, { recursive: true });
      await fs.writeFile(path.join(root, 'cgroup.subtree_control'), '+memory +pids').catch(() => undefined);
      await fs.writeFile(path.join(parent, 'cgroup.subtree_control'), '+memory +pids');
      return 2;
    } catch {
      return null;
    }
  }
  for (const c of ['memory', 'pids']) {
    try {
      await fs.mkdir(path.join(root, c, CGROUP_PARENT), { recursive: true });
    } catch {
      return null;
    }
  }
  return 1;
}

function readCount(text: string, key: string): number {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** One executor's group. */
export class JobCgroup {
  private constructor(
    private readonly version: CgroupVersion,
    /** The group's directories: one (v2) or one per controller (v1). */
    private readonly dirs: { memory: string; pids: string },
  ) {}

  static async create(
    version: CgroupVersion,
    name: string,
    limits: CgroupLimits,
    root = ROOT,
  ): Promise<JobCgroup> {
    const dirs =
      version === 2
        ? { memory: path.join(root, CGROUP_PARENT, name), pids: path.join(root, CGROUP_PARENT, name) }
        : {
            memory: path.join(root, 'memory', CGROUP_PARENT, name),
            pids: path.join(root, 'pids', CGROUP_PARENT, name),
          };
    const g = new JobCgroup(version, dirs);
    try {
      for (const d of new Set([dirs.memory, dirs.pids])) await fs.mkdir(d);
      if (version === 2) {
        await fs.writeFile(path.join(dirs.memory, 'memory.max'), String(limits.memoryBytes));
        await fs.writeFile(path.join(dirs.memory, 'memory.swap.max'), '0').catch(() => undefined);
        await fs.writeFile(path.join(dirs.pids, 'pids.max'), String(limits.maxTasks));
      } else {
        await fs.writeFile(path.join(dirs.memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
        // Without swap accounting the file is absent: then swap is not limited separately.
        await fs
          .writeFile(path.join(dirs.memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes))
          .catch(() => undefined);
        await fs.writeFile(path.join(dirs.pids, 'pids.max'), String(limits.maxTasks));
      }
    } catch (err) {
      await g.remove();
      throw err;
    }
    return g;
  }

  /** The files a process writes its pid to, to join the group (before it starts the job). */
  get procsFiles(): string[] {
    return [...new Set([this.dirs.memory, this.dirs.pids])].map((d) => path.join(d, 'cgroup.procs'));
  }

  /** Pids in the group now. */
  async pids(): Promise<number[]> {
    const text = await fs.readFile(path.join(this.dirs.pids, 'cgroup.procs'), 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0);
  }

  async events(): Promise<CgroupEvents> {
    const read = (d: string, f: string) => fs.readFile(path.join(d, f), 'utf8').catch(() => '');
    if (this.version === 2) {
      const mem = await read(this.dirs.memory, 'memory.events');
      const pids = await read(this.dirs.pids, 'pids.events');
      return { oomKills: readCount(mem, 'oom_kill'), taskLimitHits: readCount(pids, 'max') };
    }
    const oom = await read(this.dirs.memory, 'memory.oom_control');
    const pids = await read(this.dirs.pids, 'pids.events');
    return { oomKills: readCount(oom, 'oom_kill'), taskLimitHits: readCount(pids, 'max') };
  }

  /** SIGKILLs every process in the group (until it is empty, a few rounds at most). */
  async killAll(): Promise<void> {
    if (this.version === 2) {
      const ok = await fs.writeFile(path.join(this.dirs.pids, 'cgroup.kill'), '1').then(
        () => true,
        () => false,
      );
      if (ok) return;
    }
    for (let round = 0; round < 10; round++) {
      const pids = await this.pids();
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await new Promise((r) => setTimeout(r, 10 * (round + 1)));
    }
  }

  /** Kills what is left and removes the group (a group can be removed only once empty). */
  async remove(): Promise<void> {
    await this.killAll();
    for (const d of new Set([this.dirs.memory, this.dirs.pids])) {
      for (let i = 0; i < 20; i++) {
        const err = await fs.rmdir(d).then(
          () => null,
          (e: NodeJS.ErrnoException) => e,
        );
        if (!err || err.code === 'ENOENT') break;
        if (err.code !== 'EBUSY') break;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }
}
