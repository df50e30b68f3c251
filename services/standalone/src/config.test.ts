import { ConfigError } from '@im/config';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from './config';
import { loadOrCreateKeys } from './keys';

describe('standalone configuration', () => {
  it('gives a working platform with no variables at all', () => {
    const c = loadConfig({});
    expect(c.http).toEqual({ port: 8080, host: '127.0.0.1', publicBaseUrl: undefined });
    expect(c.dataDir).toBe(path.resolve('./data'));
    expect(c.adminPassword).toBeUndefined();
    expect(c.files.maxBytes).toBe(1024 ** 3);
  });

  it('names every wrong variable at once, and refuses a short admin password', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'eighty', IM_ADMIN_PASSWORD: 'short', FILES_MAX_BYTES: 'lots' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toMatch(/PORT/);
    expect(message).toMatch(/IM_ADMIN_PASSWORD: must be at least 12 characters/);
    expect(message).toMatch(/FILES_MAX_BYTES/);
  });
});

describe('token keys', () => {
  it('makes a key pair on first start (private key mode 600) and reuses it after', () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'im-keys-')), 'keys');
    const first = loadOrCreateKeys(dir);
    expect(first.created).toBe(true);
    expect(first.privateKey).toMatch(/BEGIN PRIVATE KEY/);
    expect(fs.statSync(path.join(dir, 'jwt-private.pem')).mode & 0o777).toBe(0o600);
    const again = loadOrCreateKeys(dir);
    expect(again).toEqual({ ...first, created: false });
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });
});
