import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

/** The address a request came from, as far as the router can tell. */
export type ClientAddressOf = (req: IncomingMessage) => string;

/**
 * The client's address: the socket's own, or — when the socket is one of the
 * `trusted` proxies (TRUSTED_PROXIES) — the nearest untrusted address in X-Forwarded-For,
 * so a client cannot name an address of its choosing by sending the header itself. The rules
 * are `proxy-addr`'s (Express's): addresses, CIDR ranges, `loopback`, `linklocal`,
 * `uniquelocal`.
 */
export function clientAddressOf(trusted: readonly string[]): ClientAddressOf {
  const trust = proxyaddr.compile([...trusted]);
  return req => proxyaddr(req, trust);
}
