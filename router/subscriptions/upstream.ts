import { randomUUID } from 'node:crypto';
import { createClient, MessageType, type Client, type SubscribePayload } from 'graphql-ws';
import WebSocket from 'ws';
import { ANONYMOUS, CONNECTION_SCOPE, signClaims } from '#lib/auth/claims.js';
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
  /**
   * Tells `onId` the id each subscribe message of `payload` goes out with (a new one after
   * every reconnect): what a renewal names. Call before `client(…).subscribe(payload, …)`.
   */
  track(payload: SubscribePayload, onId: (id: string) => void): void;
  /**
   * Sends `renew` (claims by subscription id) to `subgraph` in a graphql-ws ping, when its
   * socket is open; the subgraph extends those subscriptions' lives (lib/subgraph/server.ts).
   */
  renew(subgraph: string, renew: Record<string, Record<string, string>>): void;
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
  const sockets = new Map<string, WebSocket>();
  const onIds = new WeakMap<SubscribePayload, (id: string) => void>();
  return {
    track: (payload, onId) => void onIds.set(payload, onId),
    renew(subgraph, renew) {
      const socket = sockets.get(subgraph);
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      socket.send(JSON.stringify({ type: MessageType.Ping, payload: { renew } }));
    },
    client(subgraph) {
      const existing = clients.get(subgraph);
      if (existing) return existing;
      const httpUrl = options.subgraphUrls.get(subgraph);
      if (!httpUrl) throw new Error(`no URL for subgraph ${subgraph}`);
      const client = createClient({
        url: httpUrl.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        // Signed anew on every (re)connect, for this subgraph: only the router may open these.
        connectionParams: () =>
          signClaims(ANONYMOUS, options.routerSecret, {
            audience: subgraph,
            body: CONNECTION_SCOPE,
          }),
        generateID: payload => {
          const id = randomUUID();
          onIds.get(payload)?.(id);
          return id;
        },
        lazy: true,
        lazyCloseTimeout: 1_000,
        keepAlive: 10_000,
        retryAttempts: Number.POSITIVE_INFINITY,
        shouldRetry: () => true,
        retryWait: async retries => {
          await new Promise(resolve => setTimeout(resolve, Math.min(5_000, 100 * 2 ** retries)));
        },
        on: {
          connected: socket => {
            sockets.set(subgraph, socket as WebSocket);
            connected.add(subgraph);
            log.debug({ subgraph }, 'upstream socket connected');
          },
          closed: () => {
            sockets.delete(subgraph);
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
