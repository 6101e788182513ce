import { EventEmitter } from 'node:events';
import { PubSub } from 'graphql-subscriptions';
import type { Consumer, EventBus } from './events/bus.js';
import type { AnyEvent, EventType } from './events/envelope.js';

/** Every event this process sees live, keyed by its type. */
export type LiveEvents = { [T in EventType]: Extract<AnyEvent, { type: T }> };

export interface LiveFeed {
  /** An iterator of the events of these types, from now on; `return()` ends it. */
  iterate<T extends EventType>(types: readonly T[]): AsyncIterableIterator<LiveEvents[T]>;
  stop(): Promise<void>;
}

/**
 * The live fan-out a subgraph's subscription resolvers read from: one exclusive queue
 * of this process on the bus (so every replica sees every event), spread to every
 * subscriber in the process through graphql-subscriptions' PubSub.
 */
export async function startLiveFeed(bus: EventBus, bindings: readonly string[]): Promise<LiveFeed> {
  // One listener per subscriber: thousands are expected, so no listener limit.
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const pubsub = new PubSub<LiveEvents>({ eventEmitter: emitter });
  const consumer: Consumer = await bus.live({
    bindings,
    onEvent: (event) => void pubsub.publish(event.type, event as never),
  });
  return {
    iterate: <T extends EventType>(types: readonly T[]) =>
      pubsub.asyncIterableIterator<LiveEvents[T]>([...types]),
    stop: () => consumer.stop(),
  };
}
