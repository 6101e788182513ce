import { connect, type Channel, type ChannelModel } from 'amqplib';
import { busNames } from '#lib/events/bus.js';
import { parseEvent, type AnyEvent } from '#lib/events/envelope.js';
import { workQueues } from '#lib/subgraph/descriptor.js';
import { subgraphs } from '../../subgraphs/index.js';
import { TEST_AMQP_URL } from './services.js';

/**
 * A queue of our own bound to a namespaced exchange, recording every event published
 * there: what another team's consumer would see.
 */
export interface EventTap {
  events: AnyEvent[];
  close(): Promise<void>;
}

export async function tapEvents(namespace: string, pattern = '#'): Promise<EventTap> {
  const names = busNames({ namespace });
  const conn: ChannelModel = await connect(TEST_AMQP_URL);
  const ch: Channel = await conn.createChannel();
  await ch.assertExchange(names.exchange, 'topic', { durable: true });
  const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
  await ch.bindQueue(queue, names.exchange, pattern);
  const events: AnyEvent[] = [];
  await ch.consume(queue, msg => {
    if (!msg) return;
    events.push(parseEvent(msg.content, msg.fields.routingKey));
    ch.ack(msg);
  });
  return {
    events,
    close: async () => {
      await conn.close().catch(() => {});
    },
  };
}

/** Deletes the exchanges and queues a test made under `namespace` (the contract's work queues included). */
export async function deleteNamespace(
  namespace: string,
  queues: readonly string[] = [],
): Promise<void> {
  const names = busNames({ namespace });
  const conn = await connect(TEST_AMQP_URL);
  try {
    const ch = await conn.createChannel();
    for (const q of [...new Set([...queues, ...Object.keys(workQueues(subgraphs))])].map(
      names.queue,
    ))
      await ch.deleteQueue(q);
    await ch.deleteQueue(names.deadLetterQueue);
    await ch.deleteExchange(names.exchange);
    await ch.deleteExchange(names.deadLetterExchange);
  } finally {
    await conn.close().catch(() => {});
  }
}
