import type { AnyEvent, EventEnvelope } from './envelope.js';

/** Name of the durable topic exchange every service publishes to (docs/events.md). */
const EXCHANGE = 'supergraph.events';
/** Dead-letter exchange and queue for poison messages. */
const DEAD_LETTER_EXCHANGE = 'supergraph.events.dlx';
const DEAD_LETTER_QUEUE = 'supergraph.events.dead';

/**
 * Durable work queues by full name, with the routing-key patterns bound to each: every queue
 * of every service in the deployment. A bus declares all of them as soon as it connects,
 * whichever service it belongs to, so an event published before its consumer first started (a
 * fresh deployment, services started in any order) waits in its queue instead of being
 * unroutable and lost. The services' descriptors name them (`workQueues` in lib/subgraph).
 */
export type WorkQueues = Readonly<Record<string, readonly string[]>>;

/**
 * Handles one event of a work queue. Resolving acknowledges it. Throwing
 * `PoisonMessageError` dead-letters it at once; any other error means "not now" and the
 * event is delivered again later. Handlers must be idempotent (see `applyOnce`).
 */
export type EventHandler = (event: AnyEvent, headers?: EventHeaders) => Promise<void>;

export interface ConsumeOptions {
  /** Durable work queue named `<service>.<purpose>`, shared by all replicas of a service. */
  queue: string;
  /** Routing-key patterns in AMQP topic syntax, e.g. `user.*`, `task.#`. */
  bindings: readonly string[];
  handler: EventHandler;
  /** How many unacknowledged events a consumer holds at once. Default 1 (keeps order). */
  prefetch?: number;
}

/**
 * What travels beside an event's body: AMQP message headers on RabbitMQ (`HEADER_NAMES`), carried
 * alike by the in-process bus. Not part of the event contract: consumers that do not know them
 * ignore them.
 */
export interface EventHeaders {
  /**
   * The event's place in its producer's publish order (`outbox.publish_seq`, see
   * `lib/events/tables.ts`): what a live subscriber resumes from (`lib/live.ts`).
   */
  position?: number;
  /**
   * The W3C trace context of the transaction that wrote the event (`outbox.trace_parent`):
   * consumers continue that trace. A header of its own: amqplib's instrumentation writes
   * `traceparent` with the relay's publish span.
   */
  traceparent?: string;
}

/** The AMQP header of each `EventHeaders` field. */
export const HEADER_NAMES = {
  position: 'outbox-position',
  traceparent: 'outbox-traceparent',
} as const;

/** A `traceparent` value as W3C Trace Context writes it (version 00). */
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** `EventHeaders` from AMQP message headers; anything malformed is left out. */
export function headersFromAmqp(headers: Record<string, unknown> | undefined): EventHeaders {
  const position = headers?.[HEADER_NAMES.position];
  const traceparent = headers?.[HEADER_NAMES.traceparent];
  return {
    ...(typeof position === 'number' && Number.isSafeInteger(position) && position > 0
      ? { position }
      : {}),
    ...(typeof traceparent === 'string' && TRACEPARENT.test(traceparent) ? { traceparent } : {}),
  };
}

export interface LiveOptions {
  bindings: readonly string[];
  /** Called for every matching event, in every process; invalid messages are dropped and logged. */
  onEvent: (event: AnyEvent, headers: EventHeaders) => void;
  /**
   * Called when the live queue is back after the broker connection was lost: the events
   * published meanwhile were not delivered here (a consumer that must not miss any reads
   * what it missed from their source). Never called by the in-process bus, which loses nothing.
   */
  onResumed?: () => void;
}

export interface Consumer {
  /** Stops taking new events; resolves once the event in hand (if any) is settled. */
  stop(): Promise<void>;
}

/**
 * The one event bus interface. Two transports implement it with the same semantics:
 * RabbitMQ (`createAmqpBus`) and an in-process broker (`createMemoryBus`) for the
 * embedded one-process mode. `test/contract` runs one suite against both.
 */
export interface EventBus {
  readonly transport: 'amqp' | 'memory';
  /**
   * Publishes events in the given order, each with its `type` as routing key and
   * `headers[i]` beside event `i`. Resolves only after the broker confirmed every one; rejects
   * if any was not confirmed.
   */
  publish(events: readonly EventEnvelope[], headers?: readonly EventHeaders[]): Promise<void>;
  /** Consumes a durable work queue: each event is handled by one replica of the service. */
  consume(options: ConsumeOptions): Promise<Consumer>;
  /** Live fan-out for subscriptions: an exclusive queue per process, so every replica sees every event. */
  live(options: LiveOptions): Promise<Consumer>;
  /** Whether the broker is reachable now (readiness). */
  connected(): boolean;
  /** How many messages wait in the dead-letter queue (metrics); rejects while the broker is down. */
  deadLetterCount(): Promise<number>;
  /** Stops every consumer (after its current event) and closes the connection. */
  close(): Promise<void>;
}

/** Naming options; tests use a unique `namespace` so parallel runs never share queues. */
export interface BusNaming {
  /** Prefix for the exchanges and queues; empty in production. */
  namespace?: string;
}

export function busNames(naming: BusNaming = {}) {
  const ns = naming.namespace ?? '';
  return {
    exchange: ns + EXCHANGE,
    deadLetterExchange: ns + DEAD_LETTER_EXCHANGE,
    deadLetterQueue: ns + DEAD_LETTER_QUEUE,
    queue: (name: string) => ns + name,
  };
}

/**
 * Whether a routing key matches an AMQP topic pattern: words are dot-separated,
 * `*` matches exactly one word and `#` zero or more.
 */
export function topicMatches(pattern: string, routingKey: string): boolean {
  const p = pattern.split('.');
  const k = routingKey.split('.');
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === '#') return match(i + 1, j) || (j < k.length && match(i, j + 1));
    return j < k.length && (p[i] === '*' || p[i] === k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}
