import { algorithmOf, jwksOf, publicJwk, type JsonWebKeySet, type JwtAlgorithm } from '@im/http-kit';
import { createPrivateKey, type KeyObject } from 'node:crypto';

/**
 * The auth service's token keys: the current private key signs (its `kid` is the RFC 7638 thumbprint
 * of its public key); the JWKS lists the current public key first, then the other public keys kept
 * for a rotation (the previous key until every token it signed has expired, or the next key published
 * ahead of the switch). See docs/security.md, "Rotating the signing key".
 */
export class SigningKeys {
  readonly privateKey: KeyObject;
  readonly kid: string;
  readonly algorithm: JwtAlgorithm;
  readonly jwks: JsonWebKeySet;

  constructor(privateKeyPem: string, otherPublicKeyPems: string[] = []) {
    this.privateKey = createPrivateKey(privateKeyPem);
    this.algorithm = algorithmOf(this.privateKey);
    const current = publicJwk(this.privateKey);
    this.kid = current.kid;
    for (const pem of otherPublicKeyPems) {
      const jwk = publicJwk(pem);
      if (jwk.alg !== this.algorithm)
        throw new Error(
          `A previous public key (kid ${jwk.kid}) is ${jwk.alg} but the signing key is ${this.algorithm}; every listed key must use the algorithm the services accept.`,
        );
    }
    this.jwks = jwksOf([this.privateKey, ...otherPublicKeyPems]);
  }
}
