import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { issueAccessToken } from '#lib/auth/jwt.js';
import {
  openStream,
  STREAM_ACCEPT,
  type StreamProtocol,
  type TestStream,
} from '../support/http-streams.js';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { createTask, tasksKnow } from '../support/tasks.js';
import { errorOf, registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe } from '../support/ws.js';

/**
 * Subscriptions over plain HTTP — GraphQL over SSE and Apollo's multipart protocol — through
 * the router, on real Postgres and RabbitMQ: the same bridge, auth, limits, demand control and
 * masking as the WebSocket, asserted on the wire. CORS for browser origins beside them.
 */
const TASK_CHANGED = `subscription { taskChanged { kind task { title owner { displayName } } actor { username } } }`;
type TaskChanged = {
  taskChanged: {
    kind: string;
    task: { title: string; owner: { displayName: string } } | null;
    actor: { username: string } | null;
  };
};
const PROTOCOLS: StreamProtocol[] = ['sse', 'multipart'];
const MAX_PER_VIEWER = 3;
const HEARTBEAT_MS = 200;

let sg: TestSupergraph;
let alice: TestUser, bob: TestUser;
const streams: Array<TestStream<unknown>> = [];
const open = async <T = TaskChanged>(
  protocol: StreamProtocol,
  query = TASK_CHANGED,
  options: Parameters<typeof openStream>[3] = { token: alice.accessToken },
) => {
  const stream = await openStream<T>(sg.url, protocol, query, options);
  streams.push(stream);
  return stream;
};
const tasks = () => sg.supergraph.subgraphs.tasks!;
const stats = () => sg.supergraph.router.subscriptionStats();

beforeAll(async () => {
  sg = await startTestSupergraph({
    env: { MAX_SUBSCRIPTIONS_PER_VIEWER: String(MAX_PER_VIEWER) },
    router: { streamHeartbeatMs: HEARTBEAT_MS },
  });
  alice = await registerUser(sg, 'alice', 'Alice');
  bob = await registerUser(sg, 'bob', 'Bob');
  await tasksKnow(sg, alice, [bob]);
});
// Every test starts with no stream left from the one before, whatever its outcome.
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  // Down at the subgraph too, so that a test counting its subscriptions from here counts its own.
  await waitFor(
    () =>
      stats().clientSubscriptions === 0 &&
      stats().upstreamSubscriptions === 0 &&
      tasks().activeSubscriptions() === 0,
    { message: 'streams left open' },
  );
});
afterAll(async () => {
  await sg?.stop();
});

describe.each(PROTOCOLS)('subscriptions over %s', protocol => {
  it('streams federated events (fields from tasks and users) as they happen, with heartbeats', async () => {
    const before = tasks().activeSubscriptions();
    const stream = await open(protocol);
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(
      protocol === 'sse'
        ? /^text\/event-stream/
        : /^multipart\/mixed;boundary="graphql";subscriptionSpec="1.0"/,
    );
    await waitFor(() => tasks().activeSubscriptions() === before + 1);
    await createTask(sg, alice, { title: `over ${protocol}` });
    // Only events of tasks created from now on (the set-up's may still be on their way).
    const event = await waitFor(() =>
      stream.received.find(r => r.data?.taskChanged.task?.title === `over ${protocol}`),
    );
    expect(event).toEqual({
      data: {
        taskChanged: {
          kind: 'CREATED',
          task: { title: `over ${protocol}`, owner: { displayName: 'Alice' } },
          actor: { username: alice.username },
        },
      },
    });
    await waitFor(() => stream.heartbeats >= 2, { message: 'no heartbeats' });
  });

  it('ends the upstream subscription at once when the client closes the response', async () => {
    const before = tasks().activeSubscriptions();
    const stream = await open(protocol);
    await waitFor(() => tasks().activeSubscriptions() === before + 1);
    expect(stats().upstreamSubscriptions).toBeGreaterThanOrEqual(1);
    stream.close();
    await waitFor(() => tasks().activeSubscriptions() === before, {
      timeoutMs: 2_000,
      message: 'the subgraph still serves the closed stream',
    });
    expect(stats()).toMatchObject({ clientSubscriptions: 0, upstreamSubscriptions: 0 });
  });

  it('refuses an invalid or forged token with 401 UNAUTHENTICATED, and an anonymous subscriber', async () => {
    const forged = jwt.sign({ role: 'ADMIN', username: 'x' }, 'not-the-secret-'.repeat(4), {
      subject: alice.id,
      issuer: sg.config.jwt.issuer,
      audience: sg.config.jwt.audience,
    });
    for (const token of ['garbage', forged, `${alice.accessToken}x`]) {
      const refused = await open(protocol, TASK_CHANGED, { token });
      expect(refused.status).toBe(401);
      expect(refused.json?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
    const anonymous = await open(protocol, TASK_CHANGED, {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.json?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(stats().clientSubscriptions).toBe(0);
  });

  it('refuses an over-cost subscription with COST_ESTIMATED_TOO_EXPENSIVE, as on the socket', async () => {
    const expensive = `subscription { taskChanged { task { owner {
      tasks(first: 100) { edges { node { owner { tasks(first: 100) { edges { node { id } } } } } } }
    } } } }`;
    const refused = await open(protocol, expensive);
    expect(refused.status).toBe(400);
    const [error] = refused.json?.errors ?? [];
    expect(error?.extensions?.code).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
    expect(error?.extensions?.cost).toMatchObject({ max: sg.config.limits.maxCost });
    expect(stats().clientSubscriptions).toBe(0);
  });

  it('refuses invalid operations and variables before anything runs', async () => {
    const invalid = await open(protocol, 'subscription { taskChanged { nope } }');
    expect(invalid.status).toBe(400);
    expect(invalid.json?.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const badVariable = await open(
      protocol,
      'subscription ($f: TaskEventFilter) { taskChanged(filter: $f) { kind } }',
      { token: alice.accessToken, variables: { f: { kinds: ['NOPE'] } } },
    );
    expect(badVariable.status).toBe(400);
    expect(badVariable.json?.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('holds the viewer to MAX_SUBSCRIPTIONS_PER_VIEWER across streams and sockets alike', async () => {
    // One place taken over graphql-ws, the others by streams: the count is the viewer's.
    const socket = openSocket(sg.url, alice.accessToken);
    try {
      const onSocket = subscribe<TaskChanged>(socket, TASK_CHANGED);
      await waitFor(() => stats().clientSubscriptions === 1);
      const held = await Promise.all(
        Array.from({ length: MAX_PER_VIEWER - 1 }, () => open(protocol)),
      );
      expect(held.map(s => s.status)).toEqual(held.map(() => 200));
      await waitFor(() => stats().clientSubscriptions === MAX_PER_VIEWER);
      const over = await open(protocol);
      expect(over.status).toBe(429);
      expect(over.json?.errors?.[0]?.extensions).toMatchObject({
        code: 'TOO_MANY_SUBSCRIPTIONS',
        scope: 'viewer',
        limit: MAX_PER_VIEWER,
      });
      // And the socket is refused the same way while the streams hold their places.
      const overSocket = subscribe<TaskChanged>(socket, TASK_CHANGED);
      await waitFor(() => overSocket.done);
      expect(
        (overSocket.error as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code,
      ).toBe('TOO_MANY_SUBSCRIPTIONS');
      // Another viewer is not held to alice's count.
      const other = await open(protocol, TASK_CHANGED, { token: bob.accessToken });
      expect(other.status).toBe(200);
      // A place freed is a place taken again.
      onSocket.stop();
      await waitFor(() => stats().clientSubscriptions === MAX_PER_VIEWER);
      expect((await open(protocol)).status).toBe(200);
    } finally {
      await socket.dispose();
    }
  });

  it('ends the stream with UNAUTHENTICATED the moment the session is revoked (logout)', async () => {
    const login = await sg.gql<{ login: { accessToken: string; refreshToken: string } }>(
      'mutation ($i: LoginInput!) { login(input: $i) { accessToken refreshToken } }',
      { variables: { i: { login: bob.username, password: bob.password } } },
    );
    const session = login.data!.login;
    const before = tasks().activeSubscriptions();
    const stream = await open(protocol, TASK_CHANGED, { token: session.accessToken });
    await waitFor(() => tasks().activeSubscriptions() === before + 1);
    await sg.gql('mutation ($t: String!) { logout(refreshToken: $t) }', {
      token: session.accessToken,
      variables: { t: session.refreshToken },
    });
    await stream.ended;
    expect(stream.received.at(-1)?.errors?.[0]).toMatchObject({
      message: 'Session revoked',
      extensions: { code: 'UNAUTHENTICATED' },
    });
    expect(stream.raw).toMatch(
      protocol === 'sse' ? /event: complete\ndata:\n\n$/ : /--graphql--\r\n$/,
    );
    await waitFor(() => tasks().activeSubscriptions() === before);
  });

  it('ends the stream with UNAUTHENTICATED when the token expires', async () => {
    // A token of alice's as users issues them, living two seconds.
    const { token } = issueAccessToken(
      { id: alice.id, role: 'USER', username: alice.username },
      randomUUID(),
      { ...sg.config.jwt, accessTokenTtl: 2 },
    );
    const stream = await open(protocol, TASK_CHANGED, { token });
    expect(stream.status).toBe(200);
    await stream.ended;
    expect(stream.received.at(-1)?.errors?.[0]).toMatchObject({
      message: 'Access token expired',
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });
});

describe('operations that do not stream, on a streaming request', () => {
  it('answers a query over SSE as one event and completes; over multipart as JSON', async () => {
    const sse = await open<{ me: { username: string } }>('sse', '{ me { username } }');
    await sse.ended;
    expect(sse.received).toEqual([{ data: { me: { username: alice.username } } }]);
    expect(sse.raw).toMatch(/event: complete\ndata:\n\n$/);
    const multipart = await open<{ me: { username: string } }>('multipart', '{ me { username } }');
    expect(multipart.status).toBe(200);
    expect(multipart.json).toEqual({ data: { me: { username: alice.username } } });
  });
});

describe('a subscription sent with no streaming transport', () => {
  const post = (headers: Record<string, string>, body: string, method = 'POST') =>
    fetch(sg.url, {
      method,
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${alice.accessToken}`,
        ...headers,
      },
      ...(method === 'POST' ? { body } : {}),
    });
  const body = JSON.stringify({ query: TASK_CHANGED });

  it('is a 400 SUBSCRIPTION_TRANSPORT_REQUIRED naming the transports, never a 500', async () => {
    for (const accept of [
      'application/json',
      'application/graphql-response+json',
      'multipart/mixed;deferSpec=20220824, application/json',
      '*/*',
    ]) {
      const res = await post({ accept }, body);
      expect(res.status, accept).toBe(400);
      const answer = (await res.json()) as {
        errors: Array<{ message: string; extensions: { code: string } }>;
      };
      expect(answer.errors[0]?.extensions.code).toBe('SUBSCRIPTION_TRANSPORT_REQUIRED');
      expect(answer.errors[0]?.message).toMatch(
        /graphql-ws.*text\/event-stream.*subscriptionSpec/s,
      );
    }
  });

  it('is never a 500 for huge, garbled or repeated Accept headers', async () => {
    for (const accept of [
      'x'.repeat(8_000),
      `${'text/event-stream;'.repeat(400)}`,
      ';;;,,,=,=;',
      'multipart/mixed;subscriptionSpec',
      'text/event-stream\t, \t multipart/mixed;;;subscriptionSpec=="1.0"',
    ]) {
      const res = await post({ accept }, body);
      expect(res.status, accept.slice(0, 40)).toBeGreaterThanOrEqual(200);
      expect(res.status, accept.slice(0, 40)).toBeLessThan(500);
      await res.body?.cancel();
    }
    await waitFor(() => stats().clientSubscriptions === 0);
  });

  it('does not stream a GET or a body of a simple content type (CSRF prevention stays)', async () => {
    const get = await fetch(`${sg.url}?query=${encodeURIComponent(TASK_CHANGED)}`, {
      headers: { accept: STREAM_ACCEPT.sse, authorization: `Bearer ${alice.accessToken}` },
    });
    expect(get.status).toBe(400);
    expect(await get.text()).toMatch(/CSRF|preflight/i);
    const plain = await post({ accept: STREAM_ACCEPT.sse, 'content-type': 'text/plain' }, body);
    expect(plain.status).toBe(400);
    expect(await plain.text()).toMatch(/CSRF|preflight/i);
    expect(stats().clientSubscriptions).toBe(0);
  });

  it('answers a body that is not an operation as plain HTTP would (4xx)', async () => {
    for (const garbage of [
      '[]',
      '"query"',
      '{"query": 42}',
      '{}',
      'null',
      '{"query": "subscription {"}',
    ]) {
      const res = await post({ accept: STREAM_ACCEPT.multipart }, garbage);
      expect(res.status, garbage).toBeGreaterThanOrEqual(400);
      expect(res.status, garbage).toBeLessThan(500);
      await res.body?.cancel();
    }
  });
});

describe('CORS', () => {
  const preflight = (origin: string, requestHeaders = 'authorization, content-type') =>
    fetch(sg.url, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': requestHeaders,
      },
    });

  it('answers a preflight from an allowed origin with what a browser needs, cached', async () => {
    for (const origin of [
      'http://localhost:5173',
      'http://127.0.0.1:3000',
      'https://studio.apollographql.com',
    ]) {
      const res = await preflight(origin);
      expect(res.status, origin).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(res.headers.get('access-control-allow-credentials')).toBe('true');
      const allowed = res.headers.get('access-control-allow-headers')!.split(',');
      for (const header of [
        'authorization',
        'content-type',
        'apollo-require-preflight',
        'x-request-id',
      ]) {
        expect(allowed).toContain(header);
      }
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
      expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0);
      expect(res.headers.get('vary')).toMatch(/origin/i);
    }
  });

  it('gives a look-alike or foreign origin nothing a browser would accept, and no 400', async () => {
    for (const origin of [
      'http://localhost.evil.com',
      'http://localhost.evil.com:5173',
      'https://evil.example',
      'null',
      'http://localhost:5173/../evil',
      'x'.repeat(4_000),
    ]) {
      const res = await preflight(origin);
      expect(res.status, origin.slice(0, 40)).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('never allows a forged preflight to send the claim headers the router signs', async () => {
    const res = await preflight(
      'http://localhost:5173',
      'x-user-id, x-user-role, x-router-signature',
    );
    const allowed = res.headers.get('access-control-allow-headers') ?? '';
    expect(allowed).not.toMatch(/x-user|x-router/);
  });

  it('lets an allowed origin read answers; CSRF prevention still refuses simple requests', async () => {
    const read = await fetch(sg.url, {
      method: 'POST',
      headers: { origin: 'http://localhost:5173', 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(read.status).toBe(200);
    expect(read.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(read.headers.get('access-control-expose-headers')).toContain('x-request-id');
    const foreign = await fetch(sg.url, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const simple = await fetch(sg.url, {
      method: 'POST',
      headers: { origin: 'http://localhost:5173', 'content-type': 'text/plain' },
      body: JSON.stringify({ query: 'mutation { logout(refreshToken: "x") }' }),
    });
    expect(simple.status).toBe(400);
    expect(
      errorOf({ status: simple.status, ...((await simple.json()) as object) })?.message,
    ).toMatch(/CSRF|preflight/i);
  });
});

describe('stopping the router', () => {
  it('completes open streams at once instead of waiting out the close grace', async () => {
    const own = await startTestSupergraph();
    const user = await registerUser(own, 'stopping');
    const open = await Promise.all(
      PROTOCOLS.map(protocol =>
        openStream<TaskChanged>(own.url, protocol, TASK_CHANGED, { token: user.accessToken }),
      ),
    );
    await waitFor(() => own.supergraph.router.subscriptionStats().clientSubscriptions === 2);
    // The router ends them before it waits for requests in flight (up to 10 s), and their
    // connections are not left open for another request.
    // The router ends them before it waits for requests in flight, and leaves no idle
    // keep-alive connection of theirs to wait out (about 2 s here all told; 6.5 s when the
    // streams' connections were kept alive, until the client's own 4 s timeout).
    const started = Date.now();
    await own.stop();
    expect(Date.now() - started).toBeLessThan(4_000);
    await Promise.all(open.map(s => s.ended));
    expect(open[0]!.raw).toMatch(/event: complete\ndata:\n\n$/);
    expect(open[1]!.raw).toMatch(/--graphql--\r\n$/);
  });
});
