import type { AmqpConnectionManager } from 'amqp-connection-manager';
import type { Channel } from 'amqplib';
import type { Logger } from '../log.js';
import type { busNames, WorkQueues } from './bus.js';
import { sleep } from './timing.js';

/** Pieces shared by the RabbitMQ transport's channels (publisher, work consumers, live fan-out). */

export type Names = ReturnType<typeof busNames>;

/** What every channel of one bus needs from it. */
export interface Context {
  manager: AmqpConnectionManager;
  names: Names;
  log: Logger;
  retryDelayMs: number;
  connectTimeoutMs: number;
  /** Declared with the topology, before any consumer of theirs starts. */
  queues: WorkQueues;
}

/** Declares the shared topology; idempotent, so every channel runs it after each (re)connect. */
export async function assertTopology(
  channel: Channel,
  { names, queues }: Pick<Context, 'names' | 'queues'>,
): Promise<void> {
  await channel.assertExchange(names.exchange, 'topic', { durable: true });
  // A topic DLX keeps the original routing key usable for whoever inspects dead letters.
  await channel.assertExchange(names.deadLetterExchange, 'topic', { durable: true });
  await channel.assertQueue(names.deadLetterQueue, { durable: true });
  await channel.bindQueue(names.deadLetterQueue, names.deadLetterExchange, '#');
  for (const [queue, bindings] of Object.entries(queues)) {
    await assertWorkQueue(channel, names, names.queue(queue), bindings);
  }
}

/** A durable work queue that dead-letters what its consumers reject, bound to `bindings`. */
export async function assertWorkQueue(
  channel: Channel,
  names: Names,
  queue: string,
  bindings: readonly string[],
): Promise<void> {
  await channel.assertQueue(queue, {
    durable: true,
    arguments: { 'x-dead-letter-exchange': names.deadLetterExchange },
  });
  for (const pattern of bindings) await channel.bindQueue(queue, names.exchange, pattern);
}

/** A one-shot signal for "the first setup of this channel finished". */
export function deferred() {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * Waits for a channel's first setup while the broker is up; returns at once while it is
 * down (setup runs on connect). A setup that fails for a reason other than a lost channel
 * is a configuration error the caller should see.
 */
export async function firstSetup(ctx: Context, setup: Promise<void>): Promise<void> {
  if (!ctx.manager.isConnected()) return;
  try {
    await Promise.race([setup, sleep(ctx.connectTimeoutMs)]);
  } catch (err) {
    if ((err as Error).name === 'IllegalOperationError') return;
    throw err;
  }
}

/**
 * amqp-connection-manager re-runs setup after a reconnect, but a channel the broker closes
 * on a live connection (or a consumer it cancels) is never reopened. This watches for that.
 */
export function watchChannel(
  ctx: Context,
  channel: Channel,
  isCurrent: () => boolean,
  reopen: (why: string) => void,
) {
  channel.once('close', () => {
    // Channels close before their connection reports it: look once the dust has settled.
    setTimeout(() => {
      const connectionAlive = ctx.manager.connection?.connection === channel.connection;
      if (isCurrent() && connectionAlive) reopen('channel closed by the broker');
    }, 100);
  });
}
