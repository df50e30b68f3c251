import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** How often the watch measures. */
const INTERVAL_MS = 500;
/** More entries than this under the directory count as over the limit (inodes are disk too). */
export const MAX_ENTRIES = 100_000;

/** Bytes on disk under `dir` and the number of entries, not following links; stops past `maxEntries`. */
export async function diskUsage(
  dir: string,
  maxEntries = MAX_ENTRIES,
): Promise<{ bytes: number; entries: number }> {
  let bytes = 0;
  let entries = 0;
  const walk = async (p: string): Promise<void> => {
    if (entries > maxEntries) return;
    const st = await fs.lstat(p).catch(() => null);
    if (!st) return;
    entries++;
    bytes += st.blocks * 512;
    if (st.isDirectory()) {
      for (const e of await fs.readdir(p).catch(() => [] as string[])) await walk(path.join(p, e));
    }
  };
  await walk(dir);
  return { bytes, entries };
}

/**
 * Watches what a job writes under its attempt directory: when the directory has grown by more than
 * `limitBytes` since the watch started (or holds more than {@link MAX_ENTRIES} entries), `onExceeded`
 * is called once. A single file beyond the limit is refused by the kernel already (RLIMIT_FSIZE); the
 * watch catches many files, within about {@link INTERVAL_MS}.
 */
export class DiskWatch {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private baseline = 0;

  constructor(
    private readonly dir: string,
    private readonly limitBytes: number,
    private readonly onExceeded: () => void,
  ) {}

  async start(): Promise<void> {
    this.baseline = (await diskUsage(this.dir)).bytes;
    const tick = async () => {
      if (this.stopped) return;
      const u = await diskUsage(this.dir);
      if (this.stopped) return;
      if (u.bytes - this.baseline > this.limitBytes || u.entries > MAX_ENTRIES) {
        this.stop();
        this.onExceeded();
        return;
      }
      this.timer = setTimeout(() => void tick(), INTERVAL_MS);
      this.timer.unref();
    };
    if (!this.stopped) {
      this.timer = setTimeout(() => void tick(), INTERVAL_MS);
      this.timer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
