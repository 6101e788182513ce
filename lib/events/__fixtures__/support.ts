import { randomUUID } from 'node:crypto';
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { pino } from 'pino';
import type { Logger } from '../../log.js';
import { busNames } from '../bus.js';
import { createEvent, type EventEnvelope, type TaskEventRow } from '../envelope.js';

/** Test helpers for the event bus: sample events, a log you can read, RabbitMQ admin. */

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A logger whose lines tests can inspect (warn = 40, error = 50). */
export function captureLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
  );
  return { log, lines };
}

export function taskRow(overrides: Partial<TaskEventRow> = {}): TaskEventRow {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    title: 'Write the relay',
    description: null,
    status: 'TODO',
    priority: 'MEDIUM',
    dueDate: null,
    ownerId: randomUUID(),
    assigneeId: null,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

export function taskCreated(title = 'task'): EventEnvelope<'task.created'> {
  return createEvent(
    'task.created',
    { task: taskRow({ title }) },
    { producer: 'tasks', actorId: null },
  );
}

export function userCreated(username = 'ada'): EventEnvelope<'user.created'> {
  return createEvent(
    'user.created',
    { id: randomUUID(), username, displayName: username, role: 'USER' },
    { producer: 'users', actorId: null },
  );
}

/** A direct amqplib connection for what the bus does not expose: raw publishes, `get`, cleanup. */
/** A message taken off a queue by `AmqpAdmin.drain`. */
interface Drained {
  routingKey: string;
  body: string;
  messageId: string | undefined;
  headers: Record<string, unknown>;
}

export class AmqpAdmin {
  private constructor(
    private readonly connection: ChannelModel,
    readonly channel: ConfirmChannel,
    readonly namespace: string,
  ) {}

  static async open(url: string, namespace: string): Promise<AmqpAdmin> {
    const connection = await connect(url);
    const channel = await connection.createConfirmChannel();
    return new AmqpAdmin(connection, channel, namespace);
  }

  get names() {
    return busNames({ namespace: this.namespace });
  }

  /** Declares the namespaced exchange and a queue bound to it, to see what reaches the broker. */
  async tap(queueName: string, pattern = '#'): Promise<string> {
    const queue = this.names.queue(queueName);
    await this.channel.assertExchange(this.names.exchange, 'topic', { durable: true });
    await this.channel.assertQueue(queue, { durable: true });
    await this.channel.bindQueue(queue, this.names.exchange, pattern);
    return queue;
  }

  /** Publishes bytes as a foreign producer would, and waits for the broker's confirm. */
  async publishRaw(
    routingKey: string,
    body: string | Buffer,
    messageId: string = randomUUID(),
  ): Promise<void> {
    this.channel.publish(this.names.exchange, routingKey, Buffer.from(body), {
      persistent: true,
      contentType: 'application/json',
      messageId,
    });
    await this.channel.waitForConfirms();
  }

  /** Takes every message now in `queue` (full name). */
  async drain(queue: string): Promise<Drained[]> {
    const messages: Drained[] = [];
    for (;;) {
      const msg = await this.channel.get(queue, { noAck: true });
      if (msg === false) return messages;
      messages.push({
        routingKey: msg.fields.routingKey,
        body: msg.content.toString('utf8'),
        messageId: msg.properties.messageId as string | undefined,
        headers: msg.properties.headers ?? {},
      });
    }
  }

  /** Closes the connection and leaves the namespace's topology to the services still using it. */
  async close(): Promise<void> {
    await this.connection.close().catch(() => {});
  }

  /** Removes the namespace's exchanges and the given queues (short names) plus the dead queue. */
  async cleanup(queues: readonly string[] = []): Promise<void> {
    const names = this.names;
    for (const queue of queues.map(q => names.queue(q)).concat(names.deadLetterQueue)) {
      await this.channel.deleteQueue(queue).catch(() => {});
    }
    await this.channel.deleteExchange(names.exchange).catch(() => {});
    await this.channel.deleteExchange(names.deadLetterExchange).catch(() => {});
    await this.connection.close().catch(() => {});
  }
}
