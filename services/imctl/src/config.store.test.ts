import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigStore, configPath } from './config.store';

describe('the config file', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imctl-store-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lives under XDG_CONFIG_HOME, else ~/.config, unless IMCTL_CONFIG names it', () => {
    expect(configPath({ XDG_CONFIG_HOME: '/x', HOME: '/h' })).toBe('/x/imctl/config.json');
    expect(configPath({ HOME: '/h' })).toBe('/h/.config/imctl/config.json');
    expect(configPath({ IMCTL_CONFIG: '/c.json', XDG_CONFIG_HOME: '/x' })).toBe('/c.json');
  });

  it('is written 0600 in a 0700 directory and read back', () => {
    const store = new ConfigStore(path.join(dir, 'imctl', 'config.json'));
    expect(store.read()).toBeUndefined();
    const c = {
      url: 'http://h/api',
      username: 'u',
      accessToken: 'a',
      refreshToken: 'r',
      expiresAt: '2030-01-01T00:00:00.000Z',
    };
    store.write(c);
    expect(store.read()).toEqual(c);
    expect(fs.statSync(store.file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(store.file)).mode & 0o777).toBe(0o700);
    fs.writeFileSync(store.file, '{"url": 1}');
    expect(() => store.read()).toThrow(/log in again/);
  });

  it('runs refreshes one at a time under its lock, and takes over a stale lock', async () => {
    const store = new ConfigStore(path.join(dir, 'imctl', 'config.json'));
    const events: string[] = [];
    let release!: () => void;
    const firstHolds = new Promise<void>((r) => (release = r));
    const first = store.withLock(async () => {
      events.push('first in');
      await firstHolds;
      events.push('first out');
    });
    const second = store.withLock(async () => void events.push('second in'), { pollMs: 1 });
    // The second waits while the first holds the lock.
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual(['first in']);
    release();
    await Promise.all([first, second]);
    expect(events).toEqual(['first in', 'first out', 'second in']);
    expect(fs.existsSync(`${store.file}.lock`)).toBe(false);

    fs.writeFileSync(`${store.file}.lock`, '');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(`${store.file}.lock`, old, old);
    await expect(store.withLock(async () => 'taken over')).resolves.toBe('taken over');
  });
});
