import { z } from '@im/contracts';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from './env';

/**
 * Secret values at rest and on internal topics (secure macros): AES-256-GCM with a key of a keyring,
 * stored as `enc:v1:<kid>:<base64 iv>:<base64 tag>:<base64 ciphertext>`. The first key of the ring
 * encrypts; every key decrypts (rotation: put the new key first, keep the old ones until nothing is
 * encrypted with them). A value without the `enc:v1:` prefix is a legacy plain value and is returned
 * as it is. `enc:v1:<kid>` is authenticated too (GCM additional data): a value cannot be moved to
 * another key id.
 */

/** The environment variable holding the keyring: `kid:base64key,kid:base64key` (32-byte keys). */
export const SECRETS_KEYS_VAR = 'SECRETS_ENCRYPTION_KEYS';

/** How an operator makes a key (said in every message about a missing or bad key). */
export const SECRETS_KEY_HOWTO =
  'make a key with `openssl rand -base64 32` and set SECRETS_ENCRYPTION_KEYS=<key id>:<that key>, e.g. k1:...; the same value on jobconfig and every job-runner';

export const ENCRYPTED_PREFIX = 'enc:v1:';

const KID = /^[A-Za-z0-9._-]{1,64}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export interface SecretsKeyring {
  /** The key id new values are encrypted with (the first of the list). */
  readonly primaryKid: string;
  /** Every key by id, the primary first. */
  readonly keys: ReadonlyMap<string, Buffer>;
}

export class SecretsKeyError extends Error {
  override name = 'SecretsKeyError';
}

/** A stored value that cannot be decrypted (unknown key id, wrong key, tampered, malformed). */
export class SecretDecryptionError extends Error {
  override name = 'SecretDecryptionError';
  constructor(
    message: string,
    /** The key id the value names, when it names one. */
    readonly kid: string | undefined,
  ) {
    super(message);
  }
}

/** Parses `kid:base64key,kid:base64key`; throws a {@link SecretsKeyError} naming what is wrong. */
export function parseKeyring(spec: string): SecretsKeyring {
  const entries = spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (entries.length === 0) throw new SecretsKeyError(`no key given: ${SECRETS_KEY_HOWTO}`);
  const keys = new Map<string, Buffer>();
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    if (colon < 0)
      throw new SecretsKeyError(
        `entry ${i + 1} is not <key id>:<base64 key> (no key id before a ":"): ${SECRETS_KEY_HOWTO}`,
      );
    const kid = entry.slice(0, colon);
    const b64 = entry.slice(colon + 1).trim();
    if (!KID.test(kid))
      throw new SecretsKeyError(
        `entry ${i + 1}: the key id "${kid.slice(0, 70)}" must be 1-64 letters, digits, ".", "_" or "-"`,
      );
    if (keys.has(kid)) throw new SecretsKeyError(`the key id "${kid}" is listed twice`);
    const key = Buffer.from(b64, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || key.length !== KEY_BYTES)
      throw new SecretsKeyError(
        `key "${kid}" must be ${KEY_BYTES} bytes in base64 (it is ${key.length} bytes): make one with \`openssl rand -base64 32\``,
      );
    keys.set(kid, key);
  }
  return { primaryKid: entries[0]?.slice(0, entries[0].indexOf(':')) as string, keys };
}

/** A new random keyring entry `kid:base64key` (standalone mode makes one on its first start). */
export function generateKeyringEntry(
  kid = `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}`,
): string {
  return `${kid}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

/** True for a value in the `enc:v1:` format (whether or not it decrypts). */
export function isEncryptedSecret(value: string): boolean {
  return value.startsWith(ENCRYPTED_PREFIX);
}

/** The key id an encrypted value names; undefined for a legacy plain value. */
export function secretKeyId(value: string): string | undefined {
  if (!isEncryptedSecret(value)) return undefined;
  return value.slice(ENCRYPTED_PREFIX.length).split(':')[0];
}

/** Encrypts `plain` with the keyring's first key (a fresh random IV each time). */
export function encryptSecret(plain: string, keyring: SecretsKeyring): string {
  const kid = keyring.primaryKid;
  const key = keyring.keys.get(kid) as Buffer;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`${ENCRYPTED_PREFIX}${kid}`, 'utf8'));
  const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return `${ENCRYPTED_PREFIX}${kid}:${iv.toString('base64')}:${tag.toString('base64')}:${ct.toString('base64')}`;
}

/**
 * The plain value of `stored`: decrypted when it is in the `enc:v1:` format, as it is otherwise
 * (legacy plain text). Throws a {@link SecretDecryptionError} naming the key id and what to do when
 * there is no keyring, its key id is not in the keyring, or the value does not decrypt.
 */
export function decryptSecret(stored: string, keyring: SecretsKeyring | undefined): string {
  if (!isEncryptedSecret(stored)) return stored;
  const parts = stored.slice(ENCRYPTED_PREFIX.length).split(':');
  const kid = parts[0] ?? '';
  if (parts.length !== 4)
    throw new SecretDecryptionError(
      `an encrypted secret value (key id "${kid}") is malformed: expected enc:v1:<kid>:<iv>:<tag>:<ciphertext>`,
      kid,
    );
  if (!keyring)
    throw new SecretDecryptionError(
      `a secret value is encrypted with key "${kid}" but ${SECRETS_KEYS_VAR} is not set: set it to the same keyring as jobconfig's`,
      kid,
    );
  const key = keyring.keys.get(kid);
  if (!key)
    throw new SecretDecryptionError(
      `a secret value is encrypted with key "${kid}", which is not in ${SECRETS_KEYS_VAR} (it holds ${[
        ...keyring.keys.keys(),
      ]
        .map((k) => `"${k}"`)
        .join(', ')}): add key "${kid}" to ${SECRETS_KEYS_VAR}, the same keyring as jobconfig's`,
      kid,
    );
  const [, ivB64, tagB64, ctB64] = parts as [string, string, string, string];
  const iv = Buffer.from(ivB64, 'base64');
  const tag = Buffer.from(tagB64, 'base64');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES)
    throw new SecretDecryptionError(
      `an encrypted secret value (key id "${kid}") is malformed: bad IV or tag length`,
      kid,
    );
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(`${ENCRYPTED_PREFIX}${kid}`, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(ctB64, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretDecryptionError(
      `a secret value encrypted with key "${kid}" does not decrypt: the key "${kid}" in ${SECRETS_KEYS_VAR} is not the one it was encrypted with, or the value was altered; give key "${kid}" the same value as jobconfig's`,
      kid,
    );
  }
}

/**
 * `stored` encrypted with the primary key: a plain (legacy) value is encrypted, a value of another
 * key is decrypted and encrypted again (rotation), a value of the primary key is returned as it is.
 */
export function reencryptSecret(stored: string, keyring: SecretsKeyring): string {
  if (secretKeyId(stored) === keyring.primaryKid) return stored;
  return encryptSecret(decryptSecret(stored, keyring), keyring);
}

/** True when {@link reencryptSecret} would change `stored`. */
export function needsReencryption(stored: string, keyring: SecretsKeyring): boolean {
  return secretKeyId(stored) !== keyring.primaryKid;
}

/** The zod env entry: optional here (a service decides whether it must be set), validated when set. */
export const secretsEnv = {
  /** Keyring of secure macro values: `kid:base64key,...` (32-byte keys); the first encrypts, all decrypt. */
  SECRETS_ENCRYPTION_KEYS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return undefined;
      try {
        return parseKeyring(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
};

/** The keyring a distributed service must have: throws a message saying how to make one when unset. */
export function requireKeyring(keyring: SecretsKeyring | undefined, service: string): SecretsKeyring {
  if (keyring) return keyring;
  throw new ConfigError(
    `Invalid configuration; fix these environment variables:\n  ${SECRETS_KEYS_VAR}: is required (${service} encrypts and decrypts secure macro values with it): ${SECRETS_KEY_HOWTO}`,
  );
}

/**
 * The keyring kept in a file (standalone mode): read when it exists, otherwise a new random key is
 * made and written (mode 600). Rotation: put a new `kid:key` entry first in the file, restart.
 */
export function loadOrCreateKeyringFile(file: string): { keyring: SecretsKeyring; created: boolean } {
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8').replace(/\s+/g, '');
    try {
      return { keyring: parseKeyring(text), created: false };
    } catch (err) {
      throw new SecretsKeyError(`${file}: ${(err as Error).message}`);
    }
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const entry = generateKeyringEntry('k1');
  fs.writeFileSync(file, `${entry}\n`, { mode: 0o600, flag: 'wx' });
  return { keyring: parseKeyring(entry), created: true };
}
