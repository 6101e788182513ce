import { afterEach, describe, expect, it } from 'vitest';
import { proxyToBroker } from '../../test/support/amqp.js';
import { TEST_AMQP_URL, uniqueName } from '../../test/support/services.js';
import { waitFor } from '../../test/support/wait.js';
import { AmqpAdmin, captureLogger, taskCreated } from './__fixtures__/support.js';
import { BrokerUnavailableError, createAmqpBus } from './amqp.js';
import type { EventBus } from './bus.js';
import type { AnyEvent } from './envelope.js';

/** What only RabbitMQ has: the wire format, outages, a broker that is down at start. */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(queues: string[] = []) {
  const namespace = `${uniqueName('amqp')}.`;
  const admin = await AmqpAdmin.open(TEST_AMQP_URL, namespace);
  cleanups.push(() => admin.cleanup(queues));
  const { log, lines } = captureLogger();
  const open = async (url = TEST_AMQP_URL): Promise<EventBus> => {
    const bus = await createAmqpBus({
      url,
      log,
      namespace,
      reconnectDelayMs: 200,
      publishTimeoutMs: 1000,
      connectTimeoutMs: 1000,
    });
    cleanups.push(() => bus.close());
    return bus;
  };
  return { admin, open, lines };
}

describe('amqp transport', () => {
  it('publishes the contract wire format: persistent JSON, message id, routing key = type', async () => {
    const { admin, open } = await setup(['wire']);
    const bus = await open();
    const queue = await admin.tap('wire');
    const event = taskCreated('on the wire');
    await bus.publish([event]);
    const message = await admin.channel.get(queue, { noAck: true });
    if (message === false) throw new Error('nothing was published');
    expect(message.fields.exchange).toBe(admin.names.exchange);
    expect(message.fields.routingKey).toBe('task.created');
    expect(message.properties.contentType).toBe('application/json');
    expect(message.properties.deliveryMode).toBe(2);
    expect(message.properties.messageId).toBe(event.id);
    expect(JSON.parse(message.content.toString('utf8'))).toEqual(event);
  });

  it('declares the work queue with the dead-letter exchange', async () => {
    const { admin, open } = await setup(['tasks.dlx-check']);
    const bus = await open();
    await bus.consume({ queue: 'tasks.dlx-check', bindings: ['task.*'], handler: async () => {} });
    // Re-declaring with the same arguments succeeds; different ones would close the channel.
    await expect(
      admin.channel.assertQueue(admin.names.queue('tasks.dlx-check'), {
        durable: true,
        arguments: { 'x-dead-letter-exchange': admin.names.deadLetterExchange },
      }),
    ).resolves.toMatchObject({ consumerCount: 1 });
  });

  it('starts while the broker is down: not connected, publish rejects fast, nothing crashes', async () => {
    const { open, lines } = await setup();
    const started = Date.now();
    const bus = await open('amqp://guest:guest@127.0.0.1:1');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(bus.connected()).toBe(false);
    const publishing = Date.now();
    await expect(bus.publish([taskCreated('nowhere')])).rejects.toBeInstanceOf(
      BrokerUnavailableError,
    );
    expect(Date.now() - publishing).toBeLessThan(500);
    // Consumers can be registered now and attach once the broker is there.
    const consumer = await bus.consume({
      queue: 'never',
      bindings: ['#'],
      handler: async () => {},
    });
    await consumer.stop();
    expect(
      lines.some(
        line =>
          line.level === 40 && line.msg === 'cannot reach RabbitMQ; retrying in the background',
      ),
    ).toBe(true);
  });

  it('re-attaches consumers and live subscribers after the connection drops', async () => {
    const { proxy, url } = await proxyToBroker();
    cleanups.push(() => proxy.stop());
    const { open } = await setup(['tasks.restart']);
    const flaky = await open(url);
    const direct = await open();
    const work: AnyEvent[] = [];
    const live: AnyEvent[] = [];
    await flaky.consume({
      queue: 'tasks.restart',
      bindings: ['task.*'],
      handler: async event => void work.push(event),
    });
    let resumed = 0;
    await flaky.live({
      bindings: ['task.*'],
      onEvent: event => live.push(event),
      onResumed: () => void resumed++,
    });

    const before = taskCreated('before');
    await direct.publish([before]);
    await waitFor(() => work.length === 1 && live.length === 1);

    expect(resumed).toBe(0); // the first queue follows no gap
    await proxy.stop();
    await waitFor(() => !flaky.connected());
    await expect(flaky.publish([taskCreated('while down')])).rejects.toBeInstanceOf(
      BrokerUnavailableError,
    );
    // The durable queue keeps what is published during the outage.
    const during = taskCreated('during');
    await direct.publish([during]);

    await proxy.start();
    await waitFor(() => flaky.connected(), { timeoutMs: 10_000 });
    await waitFor(() => work.some(event => event.id === during.id), { timeoutMs: 10_000 });
    // The live queue is new after a reconnect: publish until the re-bound queue sees one.
    await waitFor(
      async () => {
        await direct.publish([taskCreated('after')]);
        return live.some(
          event => event.type === 'task.created' && event.data.task.title === 'after',
        );
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    // … and its subscriber heard that it missed what was published in between ('during').
    expect(resumed).toBe(1);
    expect(live.some(event => event.id === during.id)).toBe(false);
    // At least once: `before` may come again if the drop beat its ack to the broker.
    expect([...new Set(work.map(event => event.id))].slice(0, 2)).toEqual([before.id, during.id]);
    // And it publishes again.
    await flaky.publish([taskCreated('back')]);
    await waitFor(() =>
      work.some(event => event.type === 'task.created' && event.data.task.title === 'back'),
    );
  });

  it('re-declares and re-attaches a consumer whose queue the broker cancelled', async () => {
    const { admin, open, lines } = await setup(['tasks.deleted']);
    const bus = await open();
    const work: AnyEvent[] = [];
    await bus.consume({
      queue: 'tasks.deleted',
      bindings: ['task.*'],
      handler: async event => void work.push(event),
    });
    await admin.channel.deleteQueue(admin.names.queue('tasks.deleted'));
    await waitFor(
      async () => {
        await bus.publish([taskCreated('again')]);
        return work.length > 0;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(lines.some(line => line.msg === 'reopening consumer channel')).toBe(true);
  });
});
