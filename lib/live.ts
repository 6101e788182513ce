import { EventEmitter } from 'node:events';
import { PubSub } from 'graphql-subscriptions';
import { Repeater } from '@repeaterjs/repeater';
import { topicMatches, type EventBus } from './events/bus.js';
import type { AnyEvent, EventType } from './events/envelope.js';

/** Every event this process sees live, keyed by its type. */
export type LiveEvents = { [T in EventType]: Extract<AnyEvent, { type: T }> };

export interface LiveFeed {
  /**
   * The events of these types from now on that pass `keep`, mapped by `map` (`undefined`
   * from `map` drops the event too). `return()` ends it at once and frees its listener.
   */
  iterate<T extends EventType, R = LiveEvents[T]>(
    types: readonly T[],
    map?: (event: LiveEvents[T]) => R | undefined,
  ): AsyncIterableIterator<R>;
  stop(): Promise<void>;
}

/**
 * The live fan-out a subgraph's subscription resolvers read from: one exclusive queue
 * of this process on the bus (so every replica sees every event), spread to every
 * subscriber in the process through graphql-subscriptions' PubSub. Without bindings it
 * takes nothing from the bus.
 */
export async function startLiveFeed(bus: EventBus, bindings: readonly string[]): Promise<LiveFeed> {
  // One listener per subscriber: thousands are expected, so no listener limit.
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const pubsub = new PubSub<LiveEvents>({ eventEmitter: emitter });
  const consumer =
    bindings.length === 0
      ? undefined
      : await bus.live({ bindings, onEvent: event => void pubsub.publish(event.type, event) });
  return {
    iterate: <T extends EventType, R = LiveEvents[T]>(
      types: readonly T[],
      map: (event: LiveEvents[T]) => R | undefined = event => event as unknown as R,
    ) => {
      // A subscription that would wait forever for events nobody binds is a wiring mistake.
      const unbound = types.filter(type => !bindings.some(pattern => topicMatches(pattern, type)));
      if (unbound.length > 0) {
        throw new Error(`the live feed is not bound to ${unbound.join(', ')} (descriptor's live)`);
      }
      // A Repeater rather than an async generator: a generator waiting for its next event
      // cannot be returned until one arrives, which would leak the listener of every
      // subscriber who leaves while the feed is quiet.
      return new Repeater<R>(async (push, stop) => {
        const source = pubsub.asyncIterableIterator<LiveEvents[T]>([...types]);
        void (async () => {
          for (;;) {
            const next = await source.next();
            if (next.done) return;
            const value = map(next.value);
            if (value !== undefined) await push(value);
          }
        })().catch((err: unknown) => stop(err));
        await stop;
        await source.return?.();
      });
    },
    stop: async () => {
      await consumer?.stop();
    },
  };
}
