import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from '@im/contracts';
import { ConfigError, parseEnv } from './env';
import {
  decryptSecret,
  encryptSecret,
  generateKeyringEntry,
  isEncryptedSecret,
  loadOrCreateKeyringFile,
  needsReencryption,
  parseKeyring,
  reencryptSecret,
  requireKeyring,
  SecretDecryptionError,
  secretKeyId,
  secretsEnv,
} from './secrets';

const key = () => randomBytes(32).toString('base64');

describe('secret encryption', () => {
  const k1 = `k1:${key()}`;
  const k2 = `k2:${key()}`;

  it('round-trips a value in the enc:v1 format, a fresh IV each time', () => {
    const ring = parseKeyring(k1);
    const a = encryptSecret('s3cr3t-P@ss ünïcode', ring);
    const b = encryptSecret('s3cr3t-P@ss ünïcode', ring);
    expect(a).toMatch(/^enc:v1:k1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(a).not.toContain('s3cr3t');
    expect(a).not.toBe(b);
    expect(isEncryptedSecret(a)).toBe(true);
    expect(secretKeyId(a)).toBe('k1');
    expect(decryptSecret(a, ring)).toBe('s3cr3t-P@ss ünïcode');
    expect(decryptSecret(encryptSecret('', ring), ring)).toBe('');
  });

  it('returns a legacy plain value as it is, even without a keyring', () => {
    expect(decryptSecret('plain old secret', parseKeyring(k1))).toBe('plain old secret');
    expect(decryptSecret('plain old secret', undefined)).toBe('plain old secret');
    expect(isEncryptedSecret('plain')).toBe(false);
    expect(secretKeyId('plain')).toBeUndefined();
  });

  it('rotation: the first key encrypts, every key decrypts, re-encryption moves values to the first key', () => {
    const old = parseKeyring(k1);
    const stored = encryptSecret('rotate me', old);
    const rotated = parseKeyring(`${k2},${k1}`);
    expect(rotated.primaryKid).toBe('k2');
    expect(decryptSecret(stored, rotated)).toBe('rotate me');
    expect(secretKeyId(encryptSecret('new', rotated))).toBe('k2');
    expect(needsReencryption(stored, rotated)).toBe(true);
    const moved = reencryptSecret(stored, rotated);
    expect(secretKeyId(moved)).toBe('k2');
    expect(needsReencryption(moved, rotated)).toBe(false);
    expect(reencryptSecret(moved, rotated)).toBe(moved);
    expect(decryptSecret(moved, parseKeyring(k2))).toBe('rotate me');
    // A legacy plain value is encrypted.
    expect(decryptSecret(reencryptSecret('legacy', rotated), rotated)).toBe('legacy');
  });

  it('an unknown key id: an error naming it and what to do', () => {
    const stored = encryptSecret('x', parseKeyring(k1));
    const run = () => decryptSecret(stored, parseKeyring(k2));
    expect(run).toThrow(SecretDecryptionError);
    expect(run).toThrow(
      /encrypted with key "k1", which is not in SECRETS_ENCRYPTION_KEYS \(it holds "k2"\): add key "k1"/,
    );
    expect(() => decryptSecret(stored, undefined)).toThrow(
      /encrypted with key "k1" but SECRETS_ENCRYPTION_KEYS is not set/,
    );
  });

  it('a wrong key under the same id, or a tampered value: an error naming the key id', () => {
    const ring = parseKeyring(k1);
    const stored = encryptSecret('tamper', ring);
    expect(() => decryptSecret(stored, parseKeyring(`k1:${key()}`))).toThrow(
      /encrypted with key "k1" does not decrypt: the key "k1" in SECRETS_ENCRYPTION_KEYS is not the one/,
    );
    const parts = stored.split(':');
    const ct = Buffer.from(parts[5] as string, 'base64');
    ct[0] = (ct[0] as number) ^ 1;
    const flipped = [...parts.slice(0, 5), ct.toString('base64')].join(':');
    expect(() => decryptSecret(flipped, ring)).toThrow(/"k1" does not decrypt.*or the value was altered/);
    // The key id is authenticated: relabelling a value for another key of the ring fails.
    const both = parseKeyring(`${k1},k3:${k1.split(':')[1] as string}`);
    const relabelled = stored.replace('enc:v1:k1:', 'enc:v1:k3:');
    expect(() => decryptSecret(relabelled, both)).toThrow(SecretDecryptionError);
    expect(() => decryptSecret('enc:v1:k1:abc', ring)).toThrow(/malformed/);
  });

  it('parses keyrings and refuses bad ones with the fix', () => {
    const ring = parseKeyring(` ${k1} , ${k2} `);
    expect([...ring.keys.keys()]).toEqual(['k1', 'k2']);
    expect(() => parseKeyring('')).toThrow(/openssl rand -base64 32/);
    expect(() => parseKeyring(key())).toThrow(/<key id>:<base64 key>/);
    expect(() => parseKeyring(`k1:${randomBytes(16).toString('base64')}`)).toThrow(
      /key "k1" must be 32 bytes in base64 \(it is 16 bytes\)/,
    );
    expect(() => parseKeyring(`${k1},${k1}`)).toThrow(/listed twice/);
    expect(() => parseKeyring(`bad id:${key()}`)).toThrow(/key id "bad id"/);
    expect(parseKeyring(generateKeyringEntry()).keys.size).toBe(1);
  });

  it('the env entry: unset is undefined, a bad value is a configuration error, required says how to make one', () => {
    const Env = z.object(secretsEnv);
    expect(parseEnv(Env, {}).SECRETS_ENCRYPTION_KEYS).toBeUndefined();
    expect(parseEnv(Env, { SECRETS_ENCRYPTION_KEYS: k1 }).SECRETS_ENCRYPTION_KEYS?.primaryKid).toBe('k1');
    expect(() => parseEnv(Env, { SECRETS_ENCRYPTION_KEYS: 'k1:short' })).toThrow(
      /SECRETS_ENCRYPTION_KEYS: key "k1" must be 32 bytes/,
    );
    expect(() => requireKeyring(undefined, 'jobconfig')).toThrow(ConfigError);
    expect(() => requireKeyring(undefined, 'jobconfig')).toThrow(
      /SECRETS_ENCRYPTION_KEYS: is required .*openssl rand -base64 32/,
    );
  });

  it('standalone: makes a key file once (mode 600) and reads it back', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-secrets-'));
    try {
      const file = path.join(dir, 'keys', 'secrets-encryption-keys');
      const first = loadOrCreateKeyringFile(file);
      expect(first.created).toBe(true);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      const again = loadOrCreateKeyringFile(file);
      expect(again.created).toBe(false);
      const stored = encryptSecret('kept', first.keyring);
      expect(decryptSecret(stored, again.keyring)).toBe('kept');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
