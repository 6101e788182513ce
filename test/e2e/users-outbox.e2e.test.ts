import { afterAll, beforeAll, expect, it } from 'vitest';
import { proxyToBroker, tapEvents, type EventTap } from '../support/amqp.js';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import { registerUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';

/**
 * The supergraph reaches RabbitMQ through a proxy the test can cut: a registration made
 * while the broker is unreachable succeeds, and its user.created reaches RabbitMQ exactly
 * once when the broker is back.
 */
let sg: TestSupergraph;
let proxy: TcpProxy;
let tap: EventTap;

beforeAll(async () => {
  const broker = await proxyToBroker();
  proxy = broker.proxy;
  sg = await startTestSupergraph({ amqpUrl: broker.url });
  tap = await tapEvents(sg.namespace, 'user.*');
});
afterAll(async () => {
  await proxy?.start().catch(() => {});
  await tap?.close();
  await sg?.stop();
  await proxy?.stop();
});

it('a registration while the broker is down yields exactly one user.created once it is back', async () => {
  await registerUser(sg, 'before');
  await waitFor(() => tap.events.length === 1);

  const ready = async () => (await fetch(`${sg.supergraph.subgraphs.users!.url}/ready`)).status;
  expect(await ready()).toBe(200);
  await proxy.stop();
  await waitFor(() => !sg.bus.connected());
  // Readiness follows the broker, without a restart.
  expect(await ready()).toBe(503);
  const during = await registerUser(sg, 'during');
  const relay = sg.supergraph.subgraphs.users!.runtime.relay;
  expect(await relay.backlog()).toBe(1);
  expect(tap.events.some(e => e.type === 'user.created' && e.data.id === during.id)).toBe(false);

  await proxy.start();
  await waitFor(() => tap.events.some(e => e.type === 'user.created' && e.data.id === during.id), {
    timeoutMs: 20_000,
  });
  await waitFor(async () => (await relay.backlog()) === 0);
  await waitFor(async () => (await ready()) === 200);
  // Whatever reconnect retries happened, the event reached the broker exactly once.
  await registerUser(sg, 'after');
  await waitFor(() => tap.events.length === 3);
  expect(tap.events.filter(e => e.type === 'user.created' && e.data.id === during.id)).toHaveLength(
    1,
  );
});
