import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { createTask } from '../support/tasks.js';
import { errorOf, registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe, type Received, type TestSocket } from '../support/ws.js';

/**
 * What one hostile client must not be able to do to the router, on HTTP and on the socket
 * alike: make it fetch a million nodes, learn the schema in production, hold it with huge
 * messages, thousands of subscriptions or sockets, or grow a response without bound.
 */

const LIMITS = {
  MAX_SUBSCRIPTIONS_PER_CONNECTION: '3',
  MAX_SUBSCRIPTIONS_PER_VIEWER: '5',
  MAX_SOCKETS_PER_ADDRESS: '6',
  MAX_RESPONSE_BYTES: '20000',
};

/** tasks → owner → tasks → owner → tasks, every page `$n` long: a million nodes at n = 100. */
const AMPLIFY = `query Amplify($n: Int) { tasks(first: $n) { edges { node { owner { tasks(first: $n) {
  edges { node { owner { tasks(first: $n) { edges { node { id } } } } } } } } } } } }`;

/** The SQL a service sent for requests, leaving out the outbox relay's own polling. */
const requestStatements = (statements: readonly string[]) =>
  statements.filter(q => !/pg_try_advisory|"outbox"/.test(q));

/** Runs one operation over the socket: what it answered, or the `error` message's errors. */
function over(socket: TestSocket, query: string, variables: Record<string, unknown> = {}) {
  return new Promise<Received<Record<string, unknown>> & { refused?: unknown }>(resolve => {
    let last: Received<Record<string, unknown>> = {};
    socket.client.subscribe(
      { query, variables },
      {
        next: value => void (last = value as Received<Record<string, unknown>>),
        error: err => resolve({ refused: err }),
        complete: () => resolve(last),
      },
    );
  });
}

const refusalCode = (refused: unknown) =>
  Array.isArray(refused)
    ? (refused[0] as { extensions?: { code?: string } } | undefined)?.extensions?.code
    : undefined;

describe('in development', () => {
  let sg: TestSupergraph;
  let alice: TestUser;
  const sockets: TestSocket[] = [];
  const socket = (token: string | null = alice.accessToken) => {
    const s = openSocket(sg.url, token);
    sockets.push(s);
    return s;
  };

  beforeAll(async () => {
    sg = await startTestSupergraph({ env: LIMITS });
    alice = await registerUser(sg, 'hostile');
    for (let i = 0; i < 3; i++) await createTask(sg, alice, { title: `Seed ${i}` });
  });
  afterAll(async () => {
    await Promise.all(sockets.map(s => s.dispose()));
    await sg?.stop();
  });

  describe('demand control', () => {
    it('prices the amplification query with its variables and refuses it before any fetch', async () => {
      sg.queries.tasks.length = 0;
      sg.queries.users.length = 0;
      const res = await sg.gql(AMPLIFY, { token: alice.accessToken, variables: { n: 100 } });
      expect(res.status).toBe(400);
      expect(errorOf(res)?.code).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
      const cost = res.errors?.[0]?.extensions?.cost as { estimated: number; max: number };
      expect(cost.max).toBe(sg.config.limits.maxCost);
      expect(cost.estimated).toBeGreaterThan(1_000_000);
      expect(requestStatements(sg.queries.tasks)).toEqual([]);
      expect(requestStatements(sg.queries.users)).toEqual([]);
      // The same with the page size written out, and small pages pass.
      const literal = await sg.gql(AMPLIFY.replace('($n: Int)', '').replaceAll('$n', '100'), {
        token: alice.accessToken,
      });
      expect(errorOf(literal)?.code).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
      const small = await sg.gql(AMPLIFY, { token: alice.accessToken, variables: { n: 2 } });
      expect(small.status).toBe(200);
      expect(small.errors).toBeUndefined();
    });

    it('takes the default page size when none is given, and refuses a huge one', async () => {
      const page = `{ tasks { edges { node { title owner { displayName } } } } }`;
      expect((await sg.gql(page, { token: alice.accessToken })).errors).toBeUndefined();
      const huge = await sg.gql('query ($n: Int) { tasks(first: $n) { edges { node { id } } } }', {
        token: alice.accessToken,
        variables: { n: 2_000_000_000 },
      });
      expect(errorOf(huge)?.code).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
    });

    it('refuses a variable of the wrong type with BAD_USER_INPUT naming it, before any fetch', async () => {
      sg.queries.tasks.length = 0;
      const res = await sg.gql(AMPLIFY, { token: alice.accessToken, variables: { n: 'many' } });
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'n' });
      expect(requestStatements(sg.queries.tasks)).toEqual([]);
    });

    it('applies over the socket: to queries and to every event of a subscription', async () => {
      const ws = socket();
      const query = await over(ws, AMPLIFY, { n: 100 });
      expect(refusalCode(query.refused)).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
      const sub = await over(
        ws,
        `subscription ($n: Int) { taskChanged { task { owner { tasks(first: $n) { edges { node {
          owner { tasks(first: $n) { edges { node { title } } } } } } } } } } }`,
        { n: 100 },
      );
      expect(refusalCode(sub.refused)).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
      // The socket is still good.
      const me = await over(ws, '{ me { username } }');
      expect(me.data).toEqual({ me: { username: alice.username } });
    });
  });

  describe('subscriptions over plain HTTP', () => {
    it('are a 400 naming the transports that stream, never a 500', async () => {
      const res = await sg.gql('subscription { taskChanged { taskId } }', {
        token: alice.accessToken,
      });
      expect(res.status).toBe(400);
      expect(errorOf(res)?.code).toBe('SUBSCRIPTION_TRANSPORT_REQUIRED');
      expect(errorOf(res)?.message).toMatch(/graphql-ws/);
      expect(errorOf(res)?.message).toMatch(/text\/event-stream/);
    });
  });

  describe('bounded sockets', () => {
    it('closes a socket that sends a message over BODY_LIMIT with 1009, and stays healthy', async () => {
      const raw = new WebSocket(sg.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
      await new Promise(resolve => raw.once('open', resolve));
      const closed = new Promise<number>(resolve => raw.once('close', code => resolve(code)));
      raw.send(
        JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(5_000_000) } }),
      );
      expect(await closed).toBe(1009);
      const after = await sg.gql('{ me { id } }', { token: alice.accessToken });
      expect(after.data).toEqual({ me: { id: alice.id } });
    });

    it('caps subscriptions per socket with TOO_MANY_SUBSCRIPTIONS; the socket stays usable', async () => {
      const ws = socket();
      const subs = Array.from({ length: 3 }, (_, i) =>
        subscribe(ws, `subscription S${i} { taskChanged { taskId } }`),
      );
      await waitFor(() => sg.supergraph.router.subscriptionStats().clientSubscriptions >= 3);
      const fourth = subscribe(ws, 'subscription Fourth { taskChanged { taskId } }');
      await waitFor(() => fourth.done);
      expect(refusalCode(fourth.error)).toBe('TOO_MANY_SUBSCRIPTIONS');
      expect((await over(ws, '{ me { id } }')).data).toEqual({ me: { id: alice.id } });
      // Ending one frees its place.
      subs[0]!.stop();
      await waitFor(() => sg.supergraph.router.subscriptionStats().clientSubscriptions === 2);
      const again = subscribe(ws, 'subscription Again { taskChanged { taskId } }');
      await waitFor(() => sg.supergraph.router.subscriptionStats().clientSubscriptions === 3);
      expect(again.error).toBeUndefined();
      for (const s of [...subs, again]) s.stop();
      await waitFor(() => sg.supergraph.router.subscriptionStats().clientSubscriptions === 0);
    });

    it('caps one viewer across sockets, and their upstream subscriptions with it', async () => {
      const [a, b] = [socket(), socket()];
      const opened = [
        ...Array.from({ length: 3 }, (_, i) =>
          subscribe(a, `subscription A${i} { taskChanged { taskId } }`),
        ),
        ...Array.from({ length: 2 }, (_, i) =>
          subscribe(b, `subscription B${i} { taskChanged { taskId } }`),
        ),
      ];
      await waitFor(() => sg.supergraph.router.subscriptionStats().clientSubscriptions === 5);
      const sixth = subscribe(b, 'subscription B9 { taskChanged { taskId } }');
      await waitFor(() => sixth.done);
      expect(refusalCode(sixth.error)).toBe('TOO_MANY_SUBSCRIPTIONS');
      expect(sg.supergraph.router.subscriptionStats().upstreamSubscriptions).toBeLessThanOrEqual(5);
      for (const s of opened) s.stop();
      await waitFor(() => sg.supergraph.router.subscriptionStats().upstreamSubscriptions === 0);
    });

    it('refuses the upgrade of more sockets from one address than allowed, with 429', async () => {
      const open = sockets.length;
      const extra = Array.from({ length: Math.max(0, 6 - open) }, () => socket());
      await Promise.all(
        extra.map(s => new Promise(resolve => s.client.on('connected', () => resolve(undefined)))),
      );
      const status = await new Promise<number>(resolve => {
        const raw = new WebSocket(sg.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
        raw.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        raw.once('open', () => resolve(101));
      });
      expect(status).toBe(429);
      await Promise.all(extra.map(s => s.dispose()));
    });
  });

  describe('the response backstop', () => {
    it('cuts off a response over MAX_RESPONSE_BYTES, on HTTP and over the socket', async () => {
      const long = 'x'.repeat(5_000);
      for (let i = 0; i < 6; i++)
        await createTask(sg, alice, { title: `Long ${i}`, description: long });
      const query = '{ tasks(first: 50) { edges { node { title description } } } }';
      const res = await sg.gql(query, { token: alice.accessToken });
      expect(JSON.stringify(res).length).toBeLessThan(20_000);
      expect(res.errors?.some(e => e.extensions?.code === 'RESPONSE_TOO_LARGE')).toBe(true);
      const ws = await over(socket(), query);
      expect(ws.errors?.some(e => e.extensions?.code === 'RESPONSE_TOO_LARGE')).toBe(true);
      expect(JSON.stringify(ws).length).toBeLessThan(20_000);
    });
  });
});

describe('in production', () => {
  let sg: TestSupergraph;
  let alice: TestUser;
  const TOKEN = 'metrics-token-0123456789abcdef';

  beforeAll(async () => {
    sg = await startTestSupergraph({ env: { NODE_ENV: 'production', METRICS_TOKEN: TOKEN } });
    alice = await registerUser(sg, 'prod');
  });
  afterAll(() => sg?.stop());

  it('hides field and enum suggestions on HTTP and over the socket', async () => {
    const field = await sg.gql('{ mee { id } }', { token: alice.accessToken });
    expect(errorOf(field)?.message).not.toMatch(/Did you mean/);
    const enumValue = await sg.gql('{ tasks(filter: { status: [DON] }) { totalCount } }', {
      token: alice.accessToken,
    });
    expect(errorOf(enumValue)?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(errorOf(enumValue)?.message).not.toMatch(/Did you mean/);
    const ws = openSocket(sg.url, alice.accessToken);
    try {
      for (const query of [
        '{ mee { id } }',
        '{ tasks(filter: { status: [DON] }) { totalCount } }',
      ]) {
        const refused = (await over(ws, query)).refused as Array<{ message: string }>;
        expect(refused[0]?.message).toBeTruthy();
        expect(refused[0]?.message).not.toMatch(/Did you mean/);
      }
    } finally {
      await ws.dispose();
    }
  });

  it('names no internal service in errors', async () => {
    const res = await sg.gql(
      'mutation { updateTask(id: "00000000-0000-4000-8000-000000000000", input: { title: "x" }) { id } }',
      { token: alice.accessToken },
    );
    expect(errorOf(res)?.code).toBe('NOT_FOUND');
    expect(res.errors?.[0]?.extensions).not.toHaveProperty('serviceName');
  });

  it('does not open /metrics without the token, on the router or a subgraph', async () => {
    for (const base of [sg.supergraph.url, sg.supergraph.subgraphs.tasks!.url]) {
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      const wrong = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      const right = await fetch(`${base}/metrics`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(right.status).toBe(200);
      expect(await right.text()).toMatch(/graphql_requests_total/);
      expect((await fetch(`${base}/health`)).status).toBe(200);
    }
  });

  it('keeps the subgraphs of one process on loopback', () => {
    for (const subgraph of Object.values(sg.supergraph.subgraphs)) {
      expect(subgraph.server.address()).toMatchObject({ address: '127.0.0.1' });
    }
  });
});
