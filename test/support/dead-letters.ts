import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import { busNames } from '#lib/events/bus.js';
import { TEST_AMQP_URL } from './services.js';

/**
 * A raw RabbitMQ connection to a test namespace, for what a well-behaved producer never
 * does: publish bytes that are not a valid event, and read what was dead-lettered. Unlike
 * `AmqpAdmin`, closing it leaves the namespace's topology alone for the running services.
 */
export interface DeadLetterProbe {
  publishRaw(routingKey: string, body: string, messageId?: string): Promise<void>;
  /** Takes every message now in the namespace's dead-letter queue, as UTF-8 bodies. */
  drain(): Promise<string[]>;
  close(): Promise<void>;
}

export async function openDeadLetters(namespace: string): Promise<DeadLetterProbe> {
  const names = busNames({ namespace });
  const conn = await connect(TEST_AMQP_URL);
  const ch = await conn.createConfirmChannel();
  return {
    async publishRaw(routingKey, body, messageId = randomUUID()) {
      ch.publish(names.exchange, routingKey, Buffer.from(body), { persistent: true, contentType: 'application/json', messageId });
      await ch.waitForConfirms();
    },
    async drain() {
      const bodies: string[] = [];
      for (;;) {
        const msg = await ch.get(names.deadLetterQueue, { noAck: true });
        if (msg === false) return bodies;
        bodies.push(msg.content.toString('utf8'));
      }
    },
    close: async () => {
      await conn.close().catch(() => {});
    },
  };
}
