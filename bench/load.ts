import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { signClaims } from '#lib/auth/claims.js';
import { floorOperation, gatewayOperation, type SubgraphCall } from './shapes.js';
import {
  FLOOR_TASKS_QUERY,
  FLOOR_USERS_QUERY,
  gqlRetrying,
  sleep,
  summarize,
  TASK_CHANGED,
  TASKS_QUERY,
  type FanoutMessage,
  type FanoutResult,
  type FanoutSpec,
  type HttpLoadResult,
  type HttpLoadSpec,
} from './shared.js';

/**
 * The load generator: a process of its own, spawned by `bench/run.ts` with an IPC channel.
 * It receives one spec (`{ type: 'run', spec }`), runs it and answers `{ type: 'result' }`.
 *
 * - `http`: a closed loop over `connections` keep-alive sockets (node:http Agent), the same
 *   code for every target, so the gateways and the direct-to-subgraph floor are measured
 *   alike. Latency is per operation, from before the first byte is written to the last byte
 *   of the last response; a floor operation is two dependent requests to two subgraphs.
 * - `fanout`: N graphql-ws clients (one socket each) subscribe to `taskChanged`, a stream
 *   of mutations follows, and every receipt is timed against the event's `occurredAt`.
 */

const send = (message: unknown) => process.send?.(message);

// ---------------------------------------------------------------- HTTP
interface Reply {
  status: number;
  body: string;
}

function post(
  agent: Agent,
  url: URL,
  body: string,
  headers: Record<string, string>,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
        timeout: 30_000,
      },
      res => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const isData = (reply: Reply) =>
  reply.status === 200 && reply.body.startsWith('{"data"') && !reply.body.includes('"errors"');

/** One operation against the target; resolves true when it got the data it asked for. */
function operation(spec: HttpLoadSpec, agent: Agent, connection: number): () => Promise<boolean> {
  const { target, shape } = spec;
  if (shape) {
    const viewer = shape.viewers[connection % shape.viewers.length]!;
    let k = 0;
    if (target.kind === 'graphql') {
      const url = new URL(target.url);
      const headers = {
        authorization: `Bearer ${target.tokens[connection % target.tokens.length]}`,
      };
      return async () =>
        isData(
          await post(
            agent,
            url,
            JSON.stringify(gatewayOperation(shape.name, viewer, k++)),
            headers,
          ),
        );
    }
    const claims = target.claims[connection % target.claims.length]!;
    const urls = {
      users: new URL(target.usersUrl),
      tasks: new URL(target.tasksUrl),
      notifications: new URL(target.notificationsUrl),
    };
    const call: SubgraphCall = async (subgraph, query, operationName, variables) => {
      const body = JSON.stringify({ query, operationName, ...(variables ? { variables } : {}) });
      const reply = await post(
        agent,
        urls[subgraph],
        body,
        signClaims(claims, target.routerSecret, { audience: subgraph, body }),
      );
      return isData(reply)
        ? (JSON.parse(reply.body) as { data: Record<string, unknown> }).data
        : null;
    };
    return () => floorOperation(shape.name, call, viewer, k++);
  }
  if (target.kind === 'graphql') {
    const url = new URL(target.url);
    const body = JSON.stringify({ query: TASKS_QUERY, operationName: 'BenchTasks' });
    const headers = { authorization: `Bearer ${target.tokens[connection % target.tokens.length]}` };
    return async () => isData(await post(agent, url, body, headers));
  }
  const claims = target.claims[connection % target.claims.length]!;
  const tasksUrl = new URL(target.tasksUrl);
  const usersUrl = new URL(target.usersUrl);
  const tasksBody = JSON.stringify({
    query: FLOOR_TASKS_QUERY,
    operationName: 'BenchTasks__tasks__0',
  });
  type Ref = { __typename: string; id: string } | null;
  type Page = { data?: { tasks: { edges: Array<{ node: { owner: Ref; assignee: Ref } }> } } };
  return async () => {
    // Signed per request, as the router signs per request.
    const tasks = await post(
      agent,
      tasksUrl,
      tasksBody,
      signClaims(claims, target.routerSecret, { audience: 'tasks', body: tasksBody }),
    );
    if (!isData(tasks)) return false;
    const page = JSON.parse(tasks.body) as Page;
    const ids = new Set<string>();
    for (const { node } of page.data?.tasks.edges ?? []) {
      if (node.owner) ids.add(node.owner.id);
      if (node.assignee) ids.add(node.assignee.id);
    }
    const representations = [...ids].map(id => ({ __typename: 'User', id }));
    const usersBody = JSON.stringify({
      query: FLOOR_USERS_QUERY,
      operationName: 'BenchTasks__users__1',
      variables: { representations },
    });
    return isData(
      await post(
        agent,
        usersUrl,
        usersBody,
        signClaims(claims, target.routerSecret, { audience: 'users', body: usersBody }),
      ),
    );
  };
}

async function runHttp(spec: HttpLoadSpec): Promise<HttpLoadResult> {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: spec.connections,
    keepAliveMsecs: 10_000,
  });
  const start = performance.now();
  const measureFrom = start + spec.warmupSeconds * 1000;
  const measureTo = measureFrom + spec.durationSeconds * 1000;
  const samples: number[] = [];
  let failures = 0;
  let total = 0;
  const worker = async (connection: number) => {
    const op = operation(spec, agent, connection);
    while (performance.now() < measureTo) {
      const t0 = performance.now();
      let ok: boolean;
      try {
        ok = await op();
      } catch {
        ok = false;
      }
      const t1 = performance.now();
      if (ok) total += 1;
      if (t0 < measureFrom || t1 > measureTo) continue;
      if (ok) samples.push(t1 - t0);
      else failures += 1;
    }
  };
  const ticker = setInterval(
    () =>
      send({
        type: 'progress',
        done: Math.round(performance.now() - start),
        total: Math.round(measureTo - start),
      }),
    500,
  );
  try {
    await Promise.all(Array.from({ length: spec.connections }, (_, i) => worker(i)));
  } finally {
    clearInterval(ticker);
    agent.destroy();
  }
  return {
    label: spec.label,
    viewers: spec.viewers,
    connections: spec.connections,
    durationSeconds: spec.durationSeconds,
    operations: samples.length,
    totalOperations: total,
    opsPerSecond: samples.length / spec.durationSeconds,
    latencyMs: summarize(samples),
    failures,
  };
}

// ---------------------------------------------------------------- fan-out
interface TaskChangedEvent {
  taskChanged: { kind: string; taskId: string; occurredAt: string; task: { title: string } | null };
}

async function runFanout(spec: FanoutSpec): Promise<FanoutResult> {
  const phase = (p: Extract<FanoutMessage, { type: 'phase' }>['phase'], detail?: string) =>
    send({ type: 'phase', phase: p, ...(detail ? { detail } : {}) } satisfies FanoutMessage);
  const n = spec.subscriberTokens.length;
  const wsUrl = spec.url.replace(/^http/, 'ws');
  const clients: Client[] = [];
  const disposers: Array<() => void> = [];
  let errors = 0;
  /** Per subscriber: the warm-up rounds seen, and the receipt of each stream event (by sequence). */
  const warm = Array.from({ length: n }, () => new Set<number>());
  const receipts = Array.from({ length: n }, () => new Map<number, number>());
  const latencies: number[] = [];
  const warmPrefix = `${spec.tag}:warm:`;
  const streamPrefix = `${spec.tag}:seq:`;

  phase('connecting', `${n} sockets`);
  // Connect in slices, so the gateway is not asked to take a thousand handshakes at once.
  for (let from = 0; from < n; from += 100) {
    const slice = spec.subscriberTokens.slice(from, from + 100);
    await Promise.all(
      slice.map(
        (token, k) =>
          new Promise<void>(resolve => {
            const index = from + k;
            const client = createClient({
              url: wsUrl,
              webSocketImpl: WebSocket,
              connectionParams: { authorization: `Bearer ${token}` },
              lazy: false,
              retryAttempts: 0,
              onNonLazyError: () => {
                errors += 1;
                resolve();
              },
              on: { connected: () => resolve() },
            });
            clients.push(client);
            disposers.push(
              client.subscribe<TaskChangedEvent>(
                { query: TASK_CHANGED },
                {
                  next: value => {
                    const receivedAt = Date.now();
                    const event = value.data?.taskChanged;
                    const title = event?.task?.title;
                    if (!event || !title) return;
                    if (title.startsWith(warmPrefix))
                      warm[index]?.add(Number(title.slice(warmPrefix.length)));
                    else if (title.startsWith(streamPrefix)) {
                      const seq = Number(title.slice(streamPrefix.length));
                      const seen = receipts[index];
                      if (seen && !seen.has(seq)) {
                        seen.set(seq, receivedAt);
                        latencies.push(receivedAt - Date.parse(event.occurredAt));
                      }
                    }
                  },
                  error: () => {
                    errors += 1;
                  },
                  complete: () => {},
                },
              ),
            );
          }),
      ),
    );
  }

  // Retried as a client would (SERVICE_UNAVAILABLE under a thousand sockets' load, one
  // Idempotency-Key per change): a change that never succeeds still fails the run, and a retried
  // one is applied once, so delivered/expected stays exact.
  let retries = 0;
  const change = (taskId: string, token: string, title: string) =>
    gqlRetrying(
      spec.url,
      'mutation ($id: ID!, $title: String!) { updateTask(id: $id, input: { title: $title }) { id } }',
      { id: taskId, title },
      token,
      { onRetry: () => (retries += 1) },
    );
  const own = spec.private;
  /** A change of every subscriber's warm-up task (ordinary users: each its own, 20 at a time). */
  const rename = async (title: string) => {
    if (!own) return void (await change(spec.taskId, spec.mutatorToken, title));
    for (let from = 0; from < n; from += 20)
      await Promise.all(
        spec.subscriberTokens
          .slice(from, from + 20)
          .map((token, k) => change(own.tasks[(from + k) * own.tasksEach]!.id, token, title)),
      );
  };
  /** Stream change `seq`: which task, by whom, and which subscribers must see it. */
  const streamChange = (seq: number) => {
    if (!own) return { taskId: spec.taskId, token: spec.mutatorToken, watchers: null };
    // A stride prime to the task count: distinct tasks, spread over every owner.
    const task = own.tasks[(seq * 7919) % own.tasks.length]!;
    return {
      taskId: task.id,
      token: spec.subscriberTokens[task.owner]!,
      watchers: [task.owner, task.assignee],
    };
  };
  /** Per subscriber, the stream sequence numbers it must get (null: every one). */
  const expectedOf: Array<Set<number> | null> = Array.from({ length: n }, () =>
    own ? new Set<number>() : null,
  );
  const changes = own ? spec.mutations * own.changesPerRound : spec.mutations;
  for (let seq = 1; seq <= changes; seq++)
    for (const i of streamChange(seq).watchers ?? []) expectedOf[i]?.add(seq);

  // Warm-up: a change every subscriber must see before the stream starts, so every
  // subscription is known to be live upstream (no event of the stream is lost to set-up).
  const readyStart = performance.now();
  let round = 0;
  const everyoneWarm = () => warm.every(s => s.size > 0);
  while (!everyoneWarm() && round < 4) {
    round += 1;
    await rename(`${warmPrefix}${round}`);
    const waitUntil = performance.now() + 5_000;
    while (!everyoneWarm() && performance.now() < waitUntil) await sleep(20);
  }
  const readyMs = performance.now() - readyStart;
  const live = warm.filter(s => s.size > 0).length;
  phase('subscribed', `${live}/${n} live after ${round} warm-up change(s)`);
  await sleep(500); // let the warm-up's stragglers settle before memory is sampled
  if (live === 0) {
    // Nothing gets through: no stream (every expected delivery is reported missing).
    for (const dispose of disposers) dispose();
    await Promise.all(clients.map(async c => Promise.resolve(c.dispose()).catch(() => {})));
    return {
      label: spec.label,
      subscribers: n,
      distinctViewers: new Set(spec.subscriberTokens).size,
      mutations: changes,
      expected: expectedOf.reduce((sum, e) => sum + (e ? e.size : changes), 0),
      delivered: 0,
      unexpected: 0,
      exactSubscribers: 0,
      latencyMs: summarize([]),
      errors,
      retries,
      readyMs,
    };
  }

  phase(
    'streaming',
    `${changes} changes, ${own ? `${own.changesPerRound} ` : 'one '}every ${spec.intervalMs} ms`,
  );
  const expected = expectedOf.reduce((sum, e) => sum + (e ? e.size : changes), 0);
  const wanted = (i: number, seq: number) => expectedOf[i]?.has(seq) ?? true;
  const delivered = () =>
    receipts.reduce((sum, m, i) => sum + [...m.keys()].filter(seq => wanted(i, seq)).length, 0);
  const perRound = own ? own.changesPerRound : 1;
  for (let seq = 1; seq <= changes; seq += perRound) {
    const next = performance.now() + spec.intervalMs;
    await Promise.all(
      Array.from({ length: Math.min(perRound, changes - seq + 1) }, (_, k) => {
        const c = streamChange(seq + k);
        return change(c.taskId, c.token, `${streamPrefix}${seq + k}`);
      }),
    );
    send({ type: 'progress', done: delivered(), total: expected } satisfies FanoutMessage);
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
  }
  phase('draining');
  const drainUntil = performance.now() + 30_000;
  while (delivered() < expected && performance.now() < drainUntil) {
    await sleep(50);
    send({ type: 'progress', done: delivered(), total: expected } satisfies FanoutMessage);
  }
  for (const dispose of disposers) dispose();
  await Promise.all(clients.map(async c => Promise.resolve(c.dispose()).catch(() => {})));
  return {
    label: spec.label,
    subscribers: n,
    distinctViewers: new Set(spec.subscriberTokens).size,
    mutations: changes,
    expected,
    delivered: delivered(),
    unexpected: receipts.reduce(
      (sum, m, i) => sum + [...m.keys()].filter(seq => !wanted(i, seq)).length,
      0,
    ),
    exactSubscribers: receipts.filter(
      (m, i) =>
        [...m.keys()].every(seq => wanted(i, seq)) && m.size === (expectedOf[i]?.size ?? changes),
    ).length,
    latencyMs: summarize(latencies),
    errors,
    retries,
    readyMs,
  };
}

process.on('message', (message: { type: 'run'; spec: HttpLoadSpec | FanoutSpec }) => {
  if (message.type !== 'run') return;
  const run = message.spec.mode === 'http' ? runHttp(message.spec) : runFanout(message.spec);
  // Exit once the answer is on its way: nothing of a run outlives it.
  const answer = (reply: unknown) => process.send?.(reply, () => process.exit(0));
  run.then(
    result => answer({ type: 'result', result }),
    (err: unknown) =>
      answer({
        type: 'error',
        message: err instanceof Error ? (err.stack ?? err.message) : String(err),
      }),
  );
});
process.on('disconnect', () => process.exit(0));
