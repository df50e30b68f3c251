import express from 'express';

/** express `trust proxy`: false (believe no X-Forwarded-For) or a function of (address, hop). */
export type TrustProxy = false | ((address: string, hop: number) => boolean);

/**
 * Whose `X-Forwarded-For` to believe, from a list of addresses and ranges (GATEWAY_TRUST_PROXY,
 * HTTP_TRUST_PROXY; parsed by @im/config's envTrustedProxies). `oneHop`: only the connection's peer
 * may be a proxy, so the client is the last entry it appended; a service behind the gateway uses it,
 * since a client whose own address is in the list (a loopback client) could otherwise add entries
 * the walk would skip as proxies. Without it, a chain of listed proxies is walked (ingress, then
 * gateway). An empty list believes nobody.
 */
export function trustProxyFrom(addresses: readonly string[], options: { oneHop?: boolean } = {}): TrustProxy {
  if (addresses.length === 0) return false;
  // express compiles the list with proxy-addr (addresses, CIDR ranges, loopback/linklocal/uniquelocal).
  const compiled = express()
    .set('trust proxy', [...addresses])
    .get('trust proxy fn') as (address: string, hop: number) => boolean;
  return options.oneHop ? (address, hop) => hop === 0 && compiled(address, hop) : compiled;
}
