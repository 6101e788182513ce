import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  exportingTo,
  startOtlpReceiver,
  type OtlpReceiver,
  type ReceivedSpan,
} from '../support/otlp.js';
import { startProcessSupergraph, type ProcessSupergraph } from '../support/processes.js';
import { postGraphQL } from '../support/supergraph.js';
import { registerAt } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe } from '../support/ws.js';

/**
 * Traces, with each role its own process on real Postgres and RabbitMQ, exporting OTLP/HTTP
 * JSON to a receiver of the test's own: one trace per client operation through the router
 * and every subgraph it asks, properly parented, and nothing secret in any of it.
 */
let receiver: OtlpReceiver;
let sg: ProcessSupergraph;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  sg = await startProcessSupergraph('tracing', { env: exportingTo(receiver) });
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
    ['users', 'tasks'].every(name => s.some(x => x.service === name && x.name === 'POST /graphql')),
  );
  const router = spans.filter(s => s.service === 'router');
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
      'subscription Inbox { notificationReceived { kind } }',
    );
    await waitFor(async () => {
      const text = await (await fetch(`${sg.router.url}/metrics`)).text();
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
  } finally {
    await socket.dispose();
  }
});
