import { createClient, MessageType, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  ANONYMOUS,
  CLAIMS_EXTENSION,
  CONNECTION_SCOPE,
  signClaims,
  subscriptionScope,
  type Claims,
} from '#lib/auth/claims.js';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { createTask } from '../support/tasks.js';
import { registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe } from '../support/ws.js';

/*
 * What someone who captured the router's traffic to a subgraph (or holds a stale copy of it)
 * can do with it, over the subgraph's own WebSocket: the claims a subscription carries are
 * bound to that subgraph and that operation, and they run out unless the router renews them.
 */

let sg: TestSupergraph;
let alice: TestUser;
beforeAll(async () => {
  sg = await startTestSupergraph();
  alice = await registerUser(sg, 'claimsalice');
}, 120_000);
afterAll(async () => {
  await sg?.stop();
});

const OPERATION = { query: 'subscription { taskChanged { kind taskId } }', variables: {} };
const claimsOf = (user: TestUser): Claims => ({
  userId: user.id,
  role: 'USER',
  username: user.username,
  sessionId: null,
  clientAddress: null,
});

interface Direct {
  client: Client;
  socket: Promise<WebSocket>;
  closed: Promise<number>;
  ids: string[];
}

/** A graphql-ws client straight to the tasks subgraph, its `connection_init` signed for `audience`. */
function direct(audience = 'tasks'): Direct {
  let onSocket: (socket: WebSocket) => void = () => {};
  let onClosed: (code: number) => void = () => {};
  const ids: string[] = [];
  const client = createClient({
    url: `${sg.supergraph.subgraphs.tasks!.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: () =>
      signClaims(ANONYMOUS, sg.config.routerSecret, { audience, body: CONNECTION_SCOPE }),
    generateID: () => {
      ids.push(`sub-${ids.length}`);
      return ids.at(-1)!;
    },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
    on: {
      connected: socket => onSocket(socket as WebSocket),
      closed: event => onClosed((event as { code: number }).code),
    },
  });
  return {
    client,
    ids,
    socket: new Promise(resolve => (onSocket = resolve)),
    closed: new Promise(resolve => (onClosed = resolve)),
  };
}

/** Subscribes with `claims` signed for `scope`, lasting `lifetimeMs`; records how it goes. */
function subscribeWith(
  conn: Direct,
  options: { lifetimeMs: number; scope?: typeof OPERATION; audience?: string },
) {
  const state = { events: 0, error: undefined as unknown, done: false };
  const signed = signClaims(
    claimsOf(alice),
    sg.config.routerSecret,
    {
      audience: options.audience ?? 'tasks',
      body: subscriptionScope(options.scope ?? OPERATION),
    },
    { lifetimeMs: options.lifetimeMs },
  );
  conn.client.subscribe(
    { ...OPERATION, extensions: { [CLAIMS_EXTENSION]: signed } },
    {
      next: () => void state.events++,
      error: err => {
        state.error = err;
        state.done = true;
      },
      complete: () => {
        state.done = true;
      },
    },
  );
  return state;
}

const served = () => sg.supergraph.subgraphs.tasks!.activeSubscriptions();

describe('a subgraph’s WebSocket', () => {
  it('refuses a connection_init signed for another subgraph with 4403', async () => {
    const conn = direct('notifications');
    expect(await conn.closed).toBe(4403);
  });

  it('refuses a subscription whose claims were signed for another operation or subgraph', async () => {
    const conn = direct();
    try {
      const other = subscribeWith(conn, {
        lifetimeMs: 60_000,
        scope: {
          query: 'subscription { taskChanged { kind taskId task { title } } }',
          variables: {},
        },
      });
      const elsewhere = subscribeWith(conn, { lifetimeMs: 60_000, audience: 'notifications' });
      await waitFor(() => other.done && elsewhere.done);
      for (const refused of [other, elsewhere]) {
        expect(refused.error).toEqual([
          expect.objectContaining({
            extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }),
          }),
        ]);
      }
    } finally {
      await conn.client.dispose();
    }
  });

  it('ends a subscription when its claims run out, and keeps one the router renews', async () => {
    const before = served();
    const conn = direct();
    try {
      const lapsing = subscribeWith(conn, { lifetimeMs: 1_500 });
      const renewed = subscribeWith(conn, { lifetimeMs: 1_500 });
      await waitFor(() => served() === before + 2);
      const socket = await conn.socket;
      const renewedId = conn.ids[1]!;
      // Renewed for 60 s, as the router does for what it still serves; a renewal for another
      // operation's scope does nothing to the first.
      socket.send(
        JSON.stringify({
          type: MessageType.Ping,
          payload: {
            renew: {
              [renewedId]: signClaims(
                claimsOf(alice),
                sg.config.routerSecret,
                { audience: 'tasks', body: subscriptionScope(OPERATION) },
                { lifetimeMs: 60_000 },
              ),
              [conn.ids[0]!]: signClaims(
                claimsOf(alice),
                sg.config.routerSecret,
                { audience: 'tasks', body: subscriptionScope({ query: '{ x }', variables: {} }) },
                { lifetimeMs: 60_000 },
              ),
            },
          },
        }),
      );
      await waitFor(() => lapsing.done, { timeoutMs: 10_000 });
      expect(lapsing.error).toBeUndefined(); // completed, not failed
      expect(renewed.done).toBe(false);
      // The renewed one still delivers.
      await createTask(sg, alice, { title: 'After the lapse' });
      await waitFor(() => renewed.events >= 1);
      expect(lapsing.events).toBe(0);
      await waitFor(() => served() === before + 1);
    } finally {
      await conn.client.dispose();
    }
  });
});

describe('through the router', () => {
  it('keeps a subscription alive past the life of its first claims by renewing them', async () => {
    // Upstream claims that live 1.5 s, renewed every 0.4 s: without renewal the subgraph
    // would end the subscription long before the task below is created.
    const short = await startTestSupergraph({
      router: { subscriptionClaims: { lifetimeMs: 1_500, renewEveryMs: 400 } },
    });
    try {
      const bob = await registerUser(short, 'renewbob');
      const socket = openSocket(short.url, bob.accessToken);
      const sub = subscribe<{ taskChanged: { kind: string } }>(socket, OPERATION.query);
      await waitFor(() => short.supergraph.subgraphs.tasks!.activeSubscriptions() === 1);
      await new Promise(resolve => setTimeout(resolve, 4_000));
      expect(sub.done).toBe(false);
      expect(short.supergraph.subgraphs.tasks!.activeSubscriptions()).toBe(1);
      await createTask(short, bob, { title: 'Four seconds on' });
      await waitFor(() => sub.received.length >= 1);
      expect(sub.received[0]).toMatchObject({ data: { taskChanged: { kind: 'CREATED' } } });
      // Once the client leaves, the router stops renewing and unsubscribes.
      sub.stop();
      await waitFor(() => short.supergraph.subgraphs.tasks!.activeSubscriptions() === 0);
      await socket.dispose();
    } finally {
      await short.stop();
    }
  }, 60_000);
});
