import type { Logger } from '../log.js';
import {
  topicMatches,
  type ConsumeOptions,
  type Consumer,
  type EventBus,
  type EventHandler,
  type EventHeaders,
  type LiveOptions,
  type WorkQueues,
} from './bus.js';
import { parseEvent, PoisonMessageError, type AnyEvent, type EventEnvelope } from './envelope.js';
import { sleep } from './timing.js';

/** A message the in-process broker refused for good, kept so tests and operators can look at it. */
export interface DeadLetter {
  queue: string;
  routingKey: string;
  /** The raw body as it was published. */
  body: string;
  /** The parsed event, when the body was valid and the handler declared it poison. */
  event?: AnyEvent;
  reason: string;
}

/** The in-process transport, with the inspection hooks RabbitMQ gives through its own tools. */
export interface MemoryBus extends EventBus {
  readonly transport: 'memory';
  /** Poison messages, oldest first (the stand-in for `supergraph.events.dead`). */
  deadLetters(): readonly DeadLetter[];
  /** Routes a raw body as if a foreign producer had published it (poison tests). */
  publishRaw(routingKey: string, body: string | Buffer): void;
}

export interface MemoryBusOptions {
  log: Logger;
  /** Wait before a message whose handler failed is delivered again. Default 1000 ms. */
  retryDelayMs?: number;
  /** Every service's durable work queues, declared at once: see `WorkQueues`. */
  queues?: WorkQueues;
}

interface Message {
  routingKey: string;
  body: string;
  messageId: string | undefined;
  redelivered: boolean;
  /** What RabbitMQ would carry as message headers. */
  headers: EventHeaders;
}

interface WorkConsumer {
  handler: EventHandler;
  prefetch: number;
  inFlight: Set<Promise<void>>;
  stopping: boolean;
  /** Cuts a retry backoff short when the consumer stops. */
  abort: AbortController;
}

interface Queue {
  name: string;
  /** Union of the bindings of every consumer ever attached, like bindings on a durable queue. */
  bindings: Set<string>;
  ready: Message[];
  consumers: WorkConsumer[];
  /** Round-robin cursor into `consumers`. */
  next: number;
  pumpScheduled: boolean;
}

interface LiveSubscriber {
  bindings: readonly string[];
  onEvent: LiveOptions['onEvent'];
  active: boolean;
}

/**
 * The in-process broker for the embedded one-process mode: one instance shared by every
 * service of the process. Same semantics as RabbitMQ as far as consumers can tell: bodies
 * travel as JSON and are parsed on delivery, work queues keep messages while no consumer is
 * attached, delivery is asynchronous, poison is dead-lettered and failures are redelivered.
 */
export function createMemoryBus(options: MemoryBusOptions): MemoryBus {
  const log = options.log.child({ bus: 'memory' });
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const queues = new Map<string, Queue>();
  const live = new Set<LiveSubscriber>();
  const dead: DeadLetter[] = [];
  let closed = false;

  const declareQueue = (name: string, bindings: readonly string[]): Queue => {
    let queue = queues.get(name);
    if (!queue) {
      queue = {
        name,
        bindings: new Set(),
        ready: [],
        consumers: [],
        next: 0,
        pumpScheduled: false,
      };
      queues.set(name, queue);
    }
    for (const pattern of bindings) queue.bindings.add(pattern);
    return queue;
  };
  // As on RabbitMQ, the contract's work queues exist before any consumer: nothing published
  // before a service's consumers start is lost.
  for (const [name, bindings] of Object.entries(options.queues ?? {})) declareQueue(name, bindings);

  const route = (message: Message) => {
    for (const queue of queues.values()) {
      if (![...queue.bindings].some(pattern => topicMatches(pattern, message.routingKey))) continue;
      queue.ready.push({ ...message });
      schedulePump(queue);
    }
    for (const subscriber of live) {
      if (!subscriber.bindings.some(pattern => topicMatches(pattern, message.routingKey))) continue;
      // setImmediate runs callbacks in FIFO order, so each subscriber sees publish order.
      setImmediate(() => deliverLive(subscriber, message));
    }
  };

  const deliverLive = (subscriber: LiveSubscriber, message: Message) => {
    if (!subscriber.active) return;
    let event: AnyEvent;
    try {
      event = parseEvent(message.body, message.routingKey);
    } catch (err) {
      log.warn(
        {
          messageId: message.messageId,
          routingKey: message.routingKey,
          reason: (err as Error).message,
        },
        'invalid live event dropped',
      );
      return;
    }
    try {
      subscriber.onEvent(event, { ...message.headers });
    } catch (err) {
      log.error({ err, messageId: event.id, type: event.type }, 'live subscriber threw');
    }
  };

  // Delivery never happens inside publish's call stack: handlers must not depend on it.
  const schedulePump = (queue: Queue) => {
    if (queue.pumpScheduled) return;
    queue.pumpScheduled = true;
    setImmediate(() => {
      queue.pumpScheduled = false;
      pump(queue);
    });
  };

  const pump = (queue: Queue) => {
    while (queue.ready.length > 0) {
      const consumer = nextAvailable(queue);
      if (!consumer) return;
      const message = queue.ready.shift();
      if (!message) return;
      const handling: Promise<void> = handle(queue, consumer, message).finally(() => {
        consumer.inFlight.delete(handling);
        schedulePump(queue);
      });
      consumer.inFlight.add(handling);
    }
  };

  const nextAvailable = (queue: Queue): WorkConsumer | undefined => {
    const count = queue.consumers.length;
    for (let i = 0; i < count; i++) {
      const index = (queue.next + i) % count;
      const consumer = queue.consumers[index];
      if (consumer && !consumer.stopping && consumer.inFlight.size < consumer.prefetch) {
        queue.next = (index + 1) % count;
        return consumer;
      }
    }
    return undefined;
  };

  const handle = async (queue: Queue, consumer: WorkConsumer, message: Message) => {
    let event: AnyEvent | undefined;
    try {
      event = parseEvent(message.body, message.routingKey);
      await consumer.handler(event, { ...message.headers });
    } catch (err) {
      const context = {
        queue: queue.name,
        messageId: message.messageId,
        routingKey: message.routingKey,
      };
      if (err instanceof PoisonMessageError) {
        log.warn({ ...context, reason: err.message }, 'poison message dead-lettered');
        dead.push({
          queue: queue.name,
          routingKey: message.routingKey,
          body: message.body,
          ...(event ? { event } : {}),
          reason: err.message,
        });
        return;
      }
      log.error(
        { ...context, err, redelivered: message.redelivered },
        'event handler failed; will redeliver',
      );
      await sleep(retryDelayMs, consumer.abort.signal);
      // Back to the head of the queue, as RabbitMQ does with a requeued message.
      queue.ready.unshift({ ...message, redelivered: true });
    }
  };

  const stopConsumer = async (queue: Queue, consumer: WorkConsumer) => {
    consumer.stopping = true;
    consumer.abort.abort();
    queue.consumers = queue.consumers.filter(c => c !== consumer);
    queue.next = 0;
    while (consumer.inFlight.size > 0) await Promise.allSettled([...consumer.inFlight]);
    schedulePump(queue);
  };

  const consumerStops: (() => Promise<void>)[] = [];

  return {
    transport: 'memory',

    async publish(events: readonly EventEnvelope[], headers: readonly EventHeaders[] = []) {
      if (closed) throw new Error('event bus is closed');
      // Through JSON, so consumers see exactly what they would see from RabbitMQ.
      events.forEach((event, i) => {
        route({
          routingKey: event.type,
          body: JSON.stringify(event),
          messageId: event.id,
          redelivered: false,
          headers: { ...headers[i] },
        });
      });
    },

    publishRaw(routingKey, body) {
      if (closed) throw new Error('event bus is closed');
      route({
        routingKey,
        body: typeof body === 'string' ? body : body.toString('utf8'),
        messageId: undefined,
        redelivered: false,
        headers: {},
      });
    },

    async consume({
      queue: name,
      bindings,
      handler,
      prefetch = 1,
    }: ConsumeOptions): Promise<Consumer> {
      if (closed) throw new Error('event bus is closed');
      const queue = declareQueue(name, bindings);
      const consumer: WorkConsumer = {
        handler,
        prefetch: Math.max(1, prefetch),
        inFlight: new Set(),
        stopping: false,
        abort: new AbortController(),
      };
      queue.consumers.push(consumer);
      schedulePump(queue);
      const target = queue;
      let stopping: Promise<void> | undefined;
      const stop = () => (stopping ??= stopConsumer(target, consumer));
      consumerStops.push(stop);
      return { stop };
    },

    async live({ bindings, onEvent }: LiveOptions): Promise<Consumer> {
      if (closed) throw new Error('event bus is closed');
      const subscriber: LiveSubscriber = { bindings: [...bindings], onEvent, active: true };
      live.add(subscriber);
      return {
        stop: async () => {
          subscriber.active = false;
          live.delete(subscriber);
        },
      };
    },

    deadLetters: () => dead,
    deadLetterCount: async () => dead.length,

    connected: () => !closed,

    async close() {
      if (closed) return;
      closed = true;
      for (const subscriber of live) subscriber.active = false;
      live.clear();
      await Promise.allSettled(consumerStops.map(stop => stop()));
      queues.clear();
    },
  };
}
