import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  exportingTo,
  startOtlpReceiver,
  type OtlpReceiver,
  type ReceivedSpan,
} from '../support/otlp.js';
import { startOneProcessSupergraph, startProcessSupergraph } from '../support/processes.js';
import { postGraphQL } from '../support/supergraph.js';
import { registerAt } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe } from '../support/ws.js';

/**
 * Traces exported OTLP/HTTP to a receiver of the test's own, for the supergraph as
 * docker-compose runs it (each role its own process, on real Postgres and RabbitMQ, in
 * http/protobuf) and as `npm start` runs it (one process, its in-process bus, in http/json,
 * every service still under its own service.name): one trace per client operation through the
 * router and every subgraph it asks, properly parented, one trace from a mutation through the
 * bus to the subscriber's push, event resolutions linked to it, and nothing secret in any of it.
 */
interface Deployment {
  routerUrl: string;
  /** Where /metrics of the router is. */
  baseUrl: string;
  env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

const deployments: [
  string,
  'http/protobuf' | 'http/json',
  (env: Record<string, string>) => Promise<Deployment>,
][] = [
  [
    'each role its own process',
    'http/protobuf',
    async env => {
      const sg = await startProcessSupergraph('tracing', { env });
      return { ...sg, baseUrl: sg.router.url };
    },
  ],
  [
    'in one process (npm start)',
    'http/json',
    async env => {
      const sg = await startOneProcessSupergraph('tracing1', { env });
      return { ...sg, baseUrl: sg.process.url };
    },
  ],
];

describe.each(deployments)('%s, exporting %s', (_name, protocol, start) => {
  const contentType = protocol === 'http/json' ? 'application/json' : 'application/x-protobuf';
  let receiver: OtlpReceiver;
  let sg: Deployment;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    sg = await start(exportingTo(receiver, protocol));
  }, 120_000);

  afterAll(async () => {
    await sg?.stop();
    await receiver?.close();
  });

  const inTrace = (traceId: string) => receiver.spans.filter(s => s.traceId === traceId);

  /** The trace of the client operation named `operation`, once `ready` holds for its spans. */
  async function traceOf(operation: string, ready: (spans: ReceivedSpan[]) => boolean) {
    return waitFor(
      () => {
        const root = receiver.spans.find(
          s => s.name === 'gateway.request' && s.attributes['graphql.operation.name'] === operation,
        );
        const spans = root ? inTrace(root.traceId) : [];
        return root && ready(spans) ? spans : undefined;
      },
      { timeoutMs: 20_000 },
    );
  }

  /** Whether `span`'s parent chain, within `spans`, reaches a span of `service`. */
  function descendsFrom(span: ReceivedSpan, service: string, spans: ReceivedSpan[]): boolean {
    const byId = new Map(spans.map(s => [s.spanId, s]));
    for (let at = byId.get(span.parentSpanId); at; at = byId.get(at.parentSpanId))
      if (at.service === service) return true;
    return false;
  }

  it('gives a federated query one trace: the router, then each subgraph under its fetch', async () => {
    const user = await registerAt(sg.routerUrl, 'trace');
    const res = await postGraphQL<{ me: { id: string } }>(
      sg.routerUrl,
      'query Mine { me { id username tasks(first: 5) { edges { node { id } } } } }',
      { token: user.token },
    );
    expect(res.errors).toBeUndefined();
    const spans = await traceOf('Mine', s =>
      ['users', 'tasks'].every(name =>
        s.some(x => x.service === name && x.name === 'POST /graphql'),
      ),
    );
    // Each span under the service that made it, in one process too.
    expect(new Set(spans.map(s => s.service))).toEqual(new Set(['router', 'users', 'tasks']));
    expect(receiver.contentTypes.every(t => t.startsWith(contentType))).toBe(true);
    const router = spans.filter(s => s.service === 'router');
    // graphql is instrumented: the SDK started before anything loaded it.
    expect(router.some(s => s.scope === '@opentelemetry/instrumentation-graphql')).toBe(true);
    const root = router.find(s => s.name === 'POST /graphql' && s.parentSpanId === '');
    expect(root, 'the router span of the request is the root').toBeDefined();
    for (const phase of ['gateway.request', 'gateway.validate', 'gateway.plan', 'gateway.execute'])
      expect(router.map(s => s.name)).toContain(phase);
    for (const name of ['users', 'tasks']) {
      const fetch = router.find(s => s.name === `subgraph ${name}`);
      expect(fetch?.attributes['graphql.subgraph.name']).toBe(name);
      expect(String(fetch?.attributes['graphql.operation.name'])).toMatch(/^Mine__/);
      const server = spans.find(s => s.service === name && s.name === 'POST /graphql')!;
      // The subgraph's server span is a child of the router's request to it (undici's span).
      const parent = spans.find(s => s.spanId === server.parentSpanId);
      expect(parent?.service).toBe('router');
      expect(descendsFrom(server, 'router', spans)).toBe(true);
      // Its GraphQL execution is under it.
      const execution = spans.find(
        s =>
          s.service === name &&
          s.attributes['graphql.operation.name']?.toString().startsWith('Mine__'),
      );
      expect(execution && descendsFrom(execution, name, spans)).toBe(true);
    }
  });

  it('exports no token, password, secret, signature or variable', async () => {
    const user = await registerAt(sg.routerUrl, 'secret');
    const password = 'hunter2-is-not-a-password';
    await postGraphQL(
      sg.routerUrl,
      `mutation Change { changePassword(currentPassword: "wrong-${password}", newPassword: "${password}") }`,
      { token: user.token },
    );
    await traceOf('Change', s => s.some(x => x.service === 'users'));
    const everything = receiver.bodies.join('\n');
    for (const secret of [user.token, password, sg.env.JWT_SECRET!, sg.env.ROUTER_SECRET!])
      expect(everything).not.toContain(secret);
    for (const span of receiver.spans) {
      for (const key of Object.keys(span.attributes))
        expect(key).not.toMatch(/authorization|signature|variables|password|token|x-user/i);
    }
  });

  it('follows assignTask through the bus: one trace to the notifications consumer and the push', async () => {
    const owner = await registerAt(sg.routerUrl, 'owner');
    const assignee = await registerAt(sg.routerUrl, 'assignee');
    const socket = openSocket(sg.routerUrl, assignee.token);
    try {
      const sub = subscribe<{ notificationReceived: { kind: string } }>(
        socket,
        'subscription Inbox { notificationReceived { kind task { title } actor { username } } }',
      );
      await waitFor(async () => {
        const text = await (await fetch(`${sg.baseUrl}/metrics`)).text();
        return /router_subscriptions_active\{side="upstream"\} [1-9]/.test(text);
      });
      const created = await postGraphQL<{ createTask: { id: string } }>(
        sg.routerUrl,
        'mutation Create { createTask(input: { title: "traced" }) { id } }',
        { token: owner.token },
      );
      const taskId = created.data!.createTask.id;
      const assigned = await postGraphQL(
        sg.routerUrl,
        'mutation Assign($id: ID!, $to: ID) { assignTask(id: $id, assigneeId: $to) { id } }',
        { token: owner.token, variables: { id: taskId, to: assignee.id } },
      );
      expect(assigned.errors).toBeUndefined();
      await waitFor(() => sub.received.length > 0, { timeoutMs: 20_000 });
      // Each process exports on its own schedule: wait for the tasks side too, not only the push.
      const spans = await traceOf(
        'Assign',
        s =>
          s.some(x => x.service === 'notifications' && x.name === 'push notification.created') &&
          s.some(x => x.service === 'tasks' && x.name === 'POST /graphql'),
      );
      const consumer = spans.find(
        s => s.service === 'notifications' && s.name === 'process task.assigned',
      );
      expect(consumer, 'the notifications consumer continues the trace').toBeDefined();
      expect(descendsFrom(consumer!, 'tasks', spans)).toBe(true);
      const push = spans.find(s => s.name === 'push notification.created')!;
      // The push comes from the notification the consumer stored (its outbox row's context).
      expect(descendsFrom(push, 'notifications', spans)).toBe(true);
      expect(spans.find(s => s.spanId === push.parentSpanId)?.name).toBe('process task.assigned');
      // The router's resolution of the event (task and actor from their subgraphs) is a trace
      // of its own, linked to the push, its subgraph fetches under it.
      const resolution = await waitFor(
        () => {
          const span = receiver.spans.find(
            s =>
              s.name === 'gateway.subscription.event' &&
              s.links.some(l => l.traceId === push.traceId && l.spanId === push.spanId),
          );
          const own = span ? inTrace(span.traceId) : [];
          return span && ['tasks', 'users'].every(n => own.some(x => x.name === `subgraph ${n}`))
            ? { span, own }
            : undefined;
        },
        { timeoutMs: 20_000, message: 'no resolution span linked to the push' },
      );
      expect(resolution.span.service).toBe('router');
      expect(resolution.span.parentSpanId).toBe('');
      expect(resolution.span.attributes['graphql.operation.name']).toBe('Inbox');
      expect(resolution.span.attributes['graphql.subgraph.name']).toBe('notifications');
      for (const name of ['tasks', 'users']) {
        const fetch = resolution.own.find(x => x.name === `subgraph ${name}`)!;
        expect(descendsFrom(fetch, 'router', resolution.own)).toBe(true);
      }
      // What the client got has none of the router's and subgraph's bookkeeping.
      expect(sub.received[0]).toEqual({
        data: {
          notificationReceived: {
            kind: 'TASK_ASSIGNED',
            task: { title: 'traced' },
            actor: { username: owner.username },
          },
        },
      });
    } finally {
      await socket.dispose();
    }
  });
});
