import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The RS256 key pair that signs access tokens, made on first start and kept in the data directory
 * (mode 600), so tokens survive a restart. One process per service reads them from a Secret instead.
 */
export function loadOrCreateKeys(dir: string): { privateKey: string; publicKey: string; created: boolean } {
  const priv = path.join(dir, 'jwt-private.pem');
  const pub = path.join(dir, 'jwt-public.pem');
  if (fs.existsSync(priv) && fs.existsSync(pub)) {
    return {
      privateKey: fs.readFileSync(priv, 'utf8'),
      publicKey: fs.readFileSync(pub, 'utf8'),
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
  return { privateKey, publicKey, created: true };
}
