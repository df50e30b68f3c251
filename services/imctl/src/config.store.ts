import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** What `imctl login` keeps: the platform and the session, in a file only its owner can read. */
export interface CliConfig {
  url: string;
  username: string;
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, ISO-8601. */
  expiresAt: string;
}

/** `$XDG_CONFIG_HOME/imctl/config.json`, else `~/.config/imctl/config.json`; `IMCTL_CONFIG` overrides. */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.IMCTL_CONFIG) return env.IMCTL_CONFIG;
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'imctl', 'config.json');
}

export class ConfigStore {
  constructor(readonly file: string) {}

  read(): CliConfig | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const v = JSON.parse(text) as Partial<CliConfig>;
    if (
      typeof v.url !== 'string' ||
      typeof v.accessToken !== 'string' ||
      typeof v.refreshToken !== 'string' ||
      typeof v.expiresAt !== 'string'
    )
      throw new Error(`${this.file} is not an imctl configuration: log in again (imctl login)`);
    return { username: '', ...v } as CliConfig;
  }

  /** Writes atomically (a temp file renamed over), mode 0600 in a 0700 directory. */
  write(config: CliConfig): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, this.file);
  }

  /**
   * Runs `critical` holding `<file>.lock` (created exclusively), so that imctl processes running side
   * by side refresh the shared session one at a time. A lock older than `staleMs` is left over from a
   * killed process and taken over.
   */
  async withLock<T>(
    critical: () => Promise<T>,
    { waitMs = 15_000, staleMs = 30_000, pollMs = 25 } = {},
  ): Promise<T> {
    const lock = `${this.file}.lock`;
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        fs.closeSync(fs.openSync(lock, 'wx', 0o600));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
        if (age > staleMs) fs.rmSync(lock, { force: true });
        else if (Date.now() > deadline)
          throw new Error(`${lock} is held by another imctl: remove it if none runs`);
        else await new Promise((r) => setTimeout(r, pollMs));
      }
    }
    try {
      return await critical();
    } finally {
      fs.rmSync(lock, { force: true });
    }
  }

  remove(): void {
    fs.rmSync(this.file, { force: true });
  }
}
