import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ANONYMOUS, signClaims } from '#lib/auth/claims.js';
import type { Logger } from '#lib/log.js';

/**
 * The router's graphql-ws sockets to the subgraphs: one per subgraph, opened on first use and
 * closed a second after its last subscription ends, reconnected with backoff whenever it
 * drops (graphql-ws then resubscribes everything that was on it). Many viewers share one
 * socket: each subscription carries its own signed claims (see the bridge).
 */
export interface UpstreamSockets {
  /** The socket to `subgraph`; throws for a subgraph the router does not know. */
  client(subgraph: string): Client;
  /** How many are connected now (tests, metrics). */
  connected(): number;
  close(): Promise<void>;
}

export function upstreamSockets(options: {
  /** GraphQL HTTP URL of each subgraph; its WebSocket is the same URL with ws(s):. */
  subgraphUrls: ReadonlyMap<string, string>;
  routerSecret: string;
  log: Logger;
}): UpstreamSockets {
  const { log } = options;
  const clients = new Map<string, Client>();
  const connected = new Set<string>();
  return {
    client(subgraph) {
      const existing = clients.get(subgraph);
      if (existing) return existing;
      const httpUrl = options.subgraphUrls.get(subgraph);
      if (!httpUrl) throw new Error(`no URL for subgraph ${subgraph}`);
      const client = createClient({
        url: httpUrl.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        // Signed anew on every (re)connect: only the router may open these sockets.
        connectionParams: () => signClaims(ANONYMOUS, options.routerSecret),
        lazy: true,
        lazyCloseTimeout: 1_000,
        keepAlive: 10_000,
        retryAttempts: Number.POSITIVE_INFINITY,
        shouldRetry: () => true,
        retryWait: async retries => {
          await new Promise(resolve => setTimeout(resolve, Math.min(5_000, 100 * 2 ** retries)));
        },
        on: {
          connected: () => {
            connected.add(subgraph);
            log.debug({ subgraph }, 'upstream socket connected');
          },
          closed: () => {
            connected.delete(subgraph);
            log.debug({ subgraph }, 'upstream socket closed');
          },
        },
      });
      clients.set(subgraph, client);
      return client;
    },
    connected: () => connected.size,
    async close() {
      // dispose() rejects when a reconnect attempt was under way: the socket is gone either way.
      await Promise.all(
        [...clients.values()].map(async c => Promise.resolve(c.dispose()).catch(() => {})),
      );
      clients.clear();
    },
  };
}
