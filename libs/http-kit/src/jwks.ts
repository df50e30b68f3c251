import { createHash, createPublicKey, type KeyObject } from 'node:crypto';

/** The asymmetric algorithms access tokens may be signed with. */
export const JWT_ALGORITHMS = ['RS256', 'ES256'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** A public key as the JWKS lists it (RFC 7517), with its RFC 7638 thumbprint as `kid`. */
export interface PublicJwk {
  kty: 'RSA' | 'EC';
  kid: string;
  alg: JwtAlgorithm;
  use: 'sig';
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
}

export interface JsonWebKeySet {
  keys: PublicJwk[];
}

/** The algorithm a key signs with: RS256 for RSA (2048 bits or more), ES256 for EC P-256; others are refused. */
export function algorithmOf(key: KeyObject): JwtAlgorithm {
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new Error(`The RSA token key has ${bits} bits; use 2048 or more.`);
    return 'RS256';
  }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error(
    `The token key is ${key.asymmetricKeyType ?? 'not asymmetric'}; use an RSA key (RS256) or an EC P-256 key (ES256).`,
  );
}

/**
 * The public JWK of a key (a PEM, or a public or private KeyObject): `kid` is its RFC 7638 thumbprint
 * (SHA-256 of the required members in lexicographic order), so the same key has the same kid everywhere.
 */
export function publicJwk(key: string | KeyObject): PublicJwk {
  const pub = typeof key !== 'string' && key.type === 'public' ? key : createPublicKey(key);
  const alg = algorithmOf(pub);
  const jwk = pub.export({ format: 'jwk' });
  const required =
    jwk.kty === 'RSA' ? { e: jwk.e, kty: 'RSA', n: jwk.n } : { crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y };
  const kid = createHash('sha256').update(JSON.stringify(required)).digest('base64url');
  return jwk.kty === 'RSA'
    ? { kty: 'RSA', kid, alg, use: 'sig', n: jwk.n, e: jwk.e }
    : { kty: 'EC', kid, alg, use: 'sig', crv: jwk.crv, x: jwk.x, y: jwk.y };
}

/** A key set of PEMs or KeyObjects, the first one first, duplicates dropped. */
export function jwksOf(keys: (string | KeyObject)[]): JsonWebKeySet {
  const out: PublicJwk[] = [];
  for (const k of keys) {
    const jwk = publicJwk(k);
    if (!out.some((o) => o.kid === jwk.kid)) out.push(jwk);
  }
  return { keys: out };
}

/** Splits a text holding zero or more PEM blocks (`-----BEGIN PUBLIC KEY-----` ...) into one PEM each. */
export function splitPems(text: string | undefined): string[] {
  if (!text) return [];
  const blocks = text.replace(/\\n/g, '\n').match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g);
  return (blocks ?? []).map((b) => `${b}\n`);
}
