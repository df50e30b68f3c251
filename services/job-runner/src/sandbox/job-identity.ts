import { randomInt } from 'node:crypto';

/**
 * Unprivileged user and group ids for executors: one per executor, never the runner's, never root,
 * never shared by two executors of this runner at once. Chosen at random in a range no account on
 * the host uses (JOBS_UID_BASE, 65,536 ids), so runners on one host rarely pick the same id; even then
 * the two jobs cannot see each other (each has its own PID namespace and its own files).
 */
export class JobIdentities {
  private readonly used = new Set<number>();

  constructor(
    readonly base: number,
    readonly count = 65_536,
  ) {
    if (base < 1000 || base + count > 2 ** 32 - 2)
      throw new Error(`JOBS_UID_BASE ${base} is outside 1000..${2 ** 32 - 2 - count}`);
  }

  take(): number {
    if (this.used.size >= this.count / 2) throw new Error('no free job user id');
    for (;;) {
      const id = this.base + randomInt(this.count);
      if (!this.used.has(id)) {
        this.used.add(id);
        return id;
      }
    }
  }

  release(id: number): void {
    this.used.delete(id);
  }
}
