import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface TokenKeys {
  privateKey: string;
  publicKey: string;
  /** PEMs of `jwt-previous-public.pem`: keys of a rotation, still listed in the JWKS. */
  previousPublicKeys: string[];
  created: boolean;
}

/**
 * The RS256 key pair that signs access tokens, made on first start and kept in the data directory
 * (mode 600), so tokens survive a restart. One process per service reads them from a Secret instead.
 *
 * Rotation: move `jwt-public.pem` to (the end of) `jwt-previous-public.pem`, delete `jwt-private.pem`
 * and restart: a new pair is made, and tokens signed with the old key keep working until they expire;
 * then delete `jwt-previous-public.pem`.
 */
export function loadOrCreateKeys(dir: string): TokenKeys {
  const priv = path.join(dir, 'jwt-private.pem');
  const pub = path.join(dir, 'jwt-public.pem');
  const prev = path.join(dir, 'jwt-previous-public.pem');
  const previousPublicKeys = fs.existsSync(prev)
    ? (
        fs.readFileSync(prev, 'utf8').match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ??
        []
      ).map((b) => `${b}\n`)
    : [];
  if (fs.existsSync(priv) && fs.existsSync(pub)) {
    return {
      privateKey: fs.readFileSync(priv, 'utf8'),
      publicKey: fs.readFileSync(pub, 'utf8'),
      previousPublicKeys,
      created: false,
    };
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  fs.writeFileSync(priv, privateKey, { mode: 0o600 });
  fs.writeFileSync(pub, publicKey, { mode: 0o644 });
  return { privateKey, publicKey, previousPublicKeys, created: true };
}
