import amqp from 'amqp-connection-manager';
import type { Channel } from 'amqplib';
import type { Logger } from '../log.js';
import { assertTopology, firstSetup, type Context } from './amqp-channel.js';
import { WorkConsumer } from './amqp-consumer.js';
import { LiveFanout } from './amqp-live.js';
import {
  busNames,
  HEADER_NAMES,
  type ConsumeOptions,
  type Consumer,
  type EventBus,
  type EventHeaders,
  type LiveOptions,
  type WorkQueues,
} from './bus.js';
import type { EventEnvelope } from './envelope.js';

export interface AmqpBusOptions {
  /** amqp:// URL of the broker. */
  url: string;
  log: Logger;
  /** Prefix for exchanges and queues (tests); empty in production. */
  namespace?: string;
  /** Every service's durable work queues (short names), declared on connect: see `WorkQueues`. */
  queues?: WorkQueues;
  /** Shown as the connection name in the RabbitMQ management UI, and in logs. */
  service?: string;
  /** Wait before a message whose handler failed is requeued. Default 1000 ms. */
  retryDelayMs?: number;
  /** A publish not confirmed within this time rejects. Default 5000 ms. */
  publishTimeoutMs?: number;
  /** Wait between reconnect attempts. Default 2000 ms. */
  reconnectDelayMs?: number;
  /** How long `createAmqpBus` and the first `consume`/`live` wait for the broker. Default 5000 ms. */
  connectTimeoutMs?: number;
}

/** Thrown by `publish` while the broker is unreachable: the outbox keeps the events. */
export class BrokerUnavailableError extends Error {
  override name = 'BrokerUnavailableError';
}

/**
 * The RabbitMQ transport (docs/events.md). Connects in the background: a broker
 * that is down at start delays readiness (`connected()` is false, `publish` rejects) but
 * never crashes the process. Topology is re-declared and consumers re-attached after every
 * reconnect.
 */
export async function createAmqpBus(options: AmqpBusOptions): Promise<EventBus> {
  const names = busNames({ namespace: options.namespace ?? '' });
  const log = options.log.child({
    bus: 'amqp',
    ...(options.service ? { service: options.service } : {}),
  });
  const reconnectDelayMs = options.reconnectDelayMs ?? 2000;
  const publishTimeoutMs = options.publishTimeoutMs ?? 5000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;

  const manager = amqp.connect([options.url], {
    // The AMQP heartbeat is what detects a dead peer.
    heartbeatIntervalInSeconds: 5,
    reconnectTimeInSeconds: reconnectDelayMs / 1000,
    connectionOptions: {
      // Bounds a connect attempt to a host that does not answer, so close() never hangs on one.
      timeout: connectTimeoutMs,
      clientProperties: { connection_name: options.service ?? 'supergraph' },
    },
  });
  const ctx: Context = {
    manager,
    names,
    log,
    retryDelayMs: options.retryDelayMs ?? 1000,
    connectTimeoutMs,
    queues: options.queues ?? {},
  };

  let closed = false;
  // Log an outage once, not every retry.
  let reportedDown = false;
  manager.on('connect', () => {
    reportedDown = false;
    log.info('connected to RabbitMQ');
  });
  manager.on('disconnect', ({ err }: { err?: Error }) => {
    if (closed) return;
    reportedDown = true;
    log.warn({ err }, 'disconnected from RabbitMQ; reconnecting');
  });
  manager.on('connectFailed', ({ err }: { err: Error }) => {
    if (reportedDown) return log.debug({ err }, 'RabbitMQ still unreachable');
    reportedDown = true;
    log.warn({ err }, 'cannot reach RabbitMQ; retrying in the background');
  });
  manager.on('blocked', ({ reason }: { reason: string }) =>
    log.warn({ reason }, 'RabbitMQ blocked publishing'),
  );
  manager.on('unblocked', () => log.info('RabbitMQ unblocked publishing'));

  const publisher = manager.createChannel({
    name: 'publisher',
    confirm: true,
    publishTimeout: publishTimeoutMs,
    setup: (channel: Channel) => assertTopology(channel, ctx),
  });
  publisher.on('error', (err: Error) => log.error({ err }, 'publisher channel setup failed'));

  const consumers = new Set<WorkConsumer>();
  const live = new LiveFanout(ctx);

  // Give the first connection a moment, so a healthy start is ready on return; a broker
  // that refuses or does not answer leaves the bus connecting in the background.
  await new Promise<void>(resolve => {
    const done = () => {
      clearTimeout(timer);
      manager.off('connect', done);
      manager.off('connectFailed', done);
      resolve();
    };
    const timer = setTimeout(done, connectTimeoutMs);
    manager.once('connect', done);
    manager.once('connectFailed', done);
  });
  if (manager.isConnected()) await firstSetup(ctx, publisher.waitForConnect());

  return {
    transport: 'amqp',

    async publish(events: readonly EventEnvelope[], headers: readonly EventHeaders[] = []) {
      if (closed) throw new Error('event bus is closed');
      if (events.length === 0) return;
      // Fail fast rather than buffer: the outbox is the buffer, and it survives restarts.
      if (!manager.isConnected()) throw new BrokerUnavailableError('not connected to RabbitMQ');
      try {
        await Promise.all(
          events.map((event, i) =>
            publisher.publish(names.exchange, event.type, Buffer.from(JSON.stringify(event)), {
              persistent: true,
              headers: amqpHeaders(headers[i]),
              contentType: 'application/json',
              messageId: event.id,
              type: event.type,
              appId: event.producer,
              timestamp: Math.floor(Date.parse(event.occurredAt) / 1000),
            }),
          ),
        );
      } catch (err) {
        throw new BrokerUnavailableError(`publish not confirmed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    },

    async consume({ queue, bindings, handler, prefetch = 1 }: ConsumeOptions): Promise<Consumer> {
      if (closed) throw new Error('event bus is closed');
      const consumer = new WorkConsumer(
        ctx,
        names.queue(queue),
        bindings,
        handler,
        Math.max(1, prefetch),
      );
      consumers.add(consumer);
      const stop = async () => {
        await consumer.stop();
        consumers.delete(consumer);
      };
      try {
        await consumer.started();
      } catch (err) {
        await stop();
        throw err;
      }
      return { stop };
    },

    async live(options: LiveOptions): Promise<Consumer> {
      if (closed) throw new Error('event bus is closed');
      return live.subscribe(options);
    },

    connected: () => !closed && manager.isConnected(),

    async deadLetterCount() {
      if (!manager.isConnected()) throw new BrokerUnavailableError('not connected to RabbitMQ');
      return (await publisher.checkQueue(names.deadLetterQueue)).messageCount;
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...consumers].map(consumer => consumer.stop()));
      await live.close();
      await publisher.close().catch(() => {});
      await manager.close();
      log.info('event bus closed');
    },
  };
}

/** AMQP message headers of `EventHeaders` (`HEADER_NAMES`). */
function amqpHeaders(headers: EventHeaders | undefined): Record<string, unknown> {
  return {
    ...(headers?.position === undefined ? {} : { [HEADER_NAMES.position]: headers.position }),
    ...(headers?.traceparent ? { [HEADER_NAMES.traceparent]: headers.traceparent } : {}),
  };
}
