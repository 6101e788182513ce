import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface Received<T> {
  data?: T | null;
  errors?: Array<{
    message: string;
    path?: ReadonlyArray<string | number>;
    extensions?: Record<string, unknown>;
  }>;
}

export interface TestSocket {
  client: Client;
  /** Resolves with the close code when the socket closes (first close only). */
  closed: Promise<number>;
  dispose(): Promise<void>;
}

/** A graphql-ws client on the router, authenticated in `connection_init` when a token is given. */
export function openSocket(httpUrl: string, token?: string | null): TestSocket {
  let closedWith: (code: number) => void = () => {};
  const closed = new Promise<number>(resolve => (closedWith = resolve));
  const client = createClient({
    url: httpUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
    on: { closed: event => closedWith((event as { code: number }).code) },
  });
  return { client, closed, dispose: () => client.dispose() as Promise<void> };
}

export interface TestSubscription<T> {
  received: Array<Received<T>>;
  /** Set when the server ended it with an error (e.g. UNAUTHENTICATED). */
  error: unknown;
  done: boolean;
  stop(): void;
}

/** Subscribes and records everything the server sends. */
export function subscribe<T>(
  socket: TestSocket,
  query: string,
  variables: Record<string, unknown> = {},
): TestSubscription<T> {
  const sub: TestSubscription<T> = { received: [], error: undefined, done: false, stop: () => {} };
  sub.stop = socket.client.subscribe<T>(
    { query, variables },
    {
      next: value => void sub.received.push(value as Received<T>),
      error: err => {
        sub.error = err;
        sub.done = true;
      },
      complete: () => {
        sub.done = true;
      },
    },
  );
  return sub;
}
