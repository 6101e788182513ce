import { EventEmitter } from 'node:events';
import { PubSub } from 'graphql-subscriptions';
import { Repeater } from '@repeaterjs/repeater';
import { topicMatches, type EventBus } from './events/bus.js';
import type { AnyEvent, EventType } from './events/envelope.js';
import type { Logger } from './log.js';
import { contextOf, serviceScope, SpanKind, traceCarrier, withSpan } from './telemetry.js';

/** Every event this process sees live, keyed by its type. */
export type LiveEvents = { [T in EventType]: Extract<AnyEvent, { type: T }> };

/**
 * Where a subscription that lost its stream (its subgraph restarted, the router's socket to it
 * dropped) takes up again: the router sends back the position of the last event it saw, and the
 * feed replays what was published after it from this subgraph's outbox before going live again.
 */
/**
 * graphql-ws `subscribe` extension by which the router resumes an upstream subscription (the
 * last position it saw), and `next` extension by which the subgraph tells it each position.
 */
export const RESUME_EXTENSION = 'resumeAfter';
export const POSITION_EXTENSION = 'position';
/**
 * graphql-ws `next` extension with the id of the event behind it: an event published twice (a
 * relay that died between the broker's confirm and its commit) reaches a resumed subscription
 * under a new position, and the router drops the second copy by this id.
 */
export const EVENT_ID_EXTENSION = 'eventId';

/**
 * `next` extension by which the subgraph tells the router the W3C `traceparent` of the change
 * behind each event (the push, or the outbox row of a replayed one): the router's resolution of
 * the event is a span of its own, linked to it. Between router and subgraph, like the position.
 */
export const CAUSE_EXTENSION = 'traceparent';

/** A position as it travels: a positive safe integer; anything else is none. */
export const asPosition = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;

export interface LiveResume {
  /** The last position the subscriber saw; undefined for a new subscription. */
  after: number | undefined;
  /**
   * Told each event's position (when it has one), id and cause (the `traceparent` of the
   * change behind it, when traced) as the subscriber takes the event (`lib/subgraph/server.ts`).
   */
  seen(position: number | undefined, eventId: string, cause: string | undefined): void;
}

/** The events this subgraph published after a position, oldest first (`publishedSince`). */
export interface LiveReplay {
  /** Whose positions these are: the subgraph's name, the `producer` of its events. */
  producer: string;
  since(
    after: number,
    types: readonly string[] | undefined,
    limit: number,
  ): Promise<{ position: number; event: AnyEvent; traceParent: string | undefined }[]>;
  /** The position of the last event published so far (0 when none). */
  last(): Promise<number>;
}

/**
 * At most this many events are replayed to one resuming subscription; past it the subscription
 * ends with an error, so the client refetches instead of receiving a flood.
 */
const MAX_REPLAY = 10_000;

export interface LiveFeed {
  /**
   * The events of these types from now on that pass `keep`, mapped by `map` (`undefined`
   * from `map` drops the event too). `return()` ends it at once and frees its listener.
   * With `resume.after`, first the events published after that position (see `LiveResume`).
   */
  iterate<T extends EventType, R = LiveEvents[T]>(
    types: readonly T[],
    map?: (event: LiveEvents[T]) => R | undefined,
    resume?: LiveResume,
  ): AsyncIterableIterator<R>;
  stop(): Promise<void>;
}

/**
 * What the feed spreads in the process: an event, its position in its producer's order, and
 * its cause (`traceparent` of the push span, or of the change that wrote a replayed one).
 */
type Positioned<E> = { event: E; position: number | undefined; cause: string | undefined };
type PositionedEvents = { [T in EventType]: Positioned<LiveEvents[T]> };
/** What a subscriber takes: the mapped value, and the position, id and cause of its event. */
type Taken<R> = { value: R; position: number | undefined; id: string; cause: string | undefined };

/**
 * The live fan-out a subgraph's subscription resolvers read from: one exclusive queue
 * of this process on the bus (so every replica sees every event), spread to every
 * subscriber in the process through graphql-subscriptions' PubSub. Without bindings it
 * takes nothing from the bus. `replay` (the subgraph's outbox) serves subscriptions that resume.
 */
export async function startLiveFeed(
  bus: EventBus,
  bindings: readonly string[],
  replay?: LiveReplay,
  log?: Logger,
): Promise<LiveFeed> {
  const inThisService = serviceScope();
  // One listener per subscriber: thousands are expected, so no listener limit.
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const pubsub = new PubSub<PositionedEvents>({ eventEmitter: emitter });
  /** Every running iteration's `stop`: to end them all when the feed lost events for good. */
  const running = new Set<(err: Error) => void>();
  // The last of this subgraph's positions spread in the process: a live event at or before it
  // is one the feed has spread already (a replay caught it first).
  let last = replay ? await replay.last() : 0;
  const spread = (event: AnyEvent, position: number | undefined, cause: string | undefined) => {
    if (position !== undefined) {
      if (position <= last) return;
      last = position;
    }
    void pubsub.publish(event.type, {
      event,
      position,
      cause,
    } as PositionedEvents[typeof event.type]);
  };
  /** Live events held while the feed replays what it missed during a broker outage. */
  let held: Positioned<AnyEvent>[] | undefined;
  const resumed = () => {
    if (!replay || held) return;
    held = [];
    void (async () => {
      try {
        // Published while this process's queue was gone: from the outbox, then what waited.
        const rows = await replay.since(last, undefined, MAX_REPLAY + 1);
        if (rows.length > MAX_REPLAY) {
          const err = new Error(`missed more than ${MAX_REPLAY} events while the broker was away`);
          log?.error({ err }, 'live feed cannot replay: ending its subscriptions');
          for (const stop of running) stop(err);
          last = rows.at(-1)!.position;
          return;
        }
        for (const row of rows)
          if (bindings.some(pattern => topicMatches(pattern, row.event.type)))
            spread(row.event, row.position, row.traceParent);
      } catch (err) {
        log?.error({ err }, 'live feed could not replay after the broker came back');
      } finally {
        const waiting = held ?? [];
        held = undefined;
        for (const { event, position, cause } of waiting) spread(event, position, cause);
      }
    })();
  };
  const consumer =
    bindings.length === 0
      ? undefined
      : await bus.live({
          bindings,
          onEvent: (event, headers) => {
            // Positions count in their producer's order: only this subgraph's can be replayed.
            const position = event.producer === replay?.producer ? headers.position : undefined;
            if (held) held.push({ event, position, cause: headers.traceparent });
            // Handing it to this process's subscriptions: a span in the trace of the change.
            else
              void inThisService(() =>
                withSpan(
                  `push ${event.type}`,
                  {
                    kind: SpanKind.CONSUMER,
                    parent: contextOf({ traceparent: headers.traceparent }),
                    attributes: { 'messaging.message.id': event.id },
                  },
                  async () => spread(event, position, traceCarrier().traceparent),
                ),
              );
          },
          onResumed: resumed,
        });
  return {
    iterate: <T extends EventType, R = LiveEvents[T]>(
      types: readonly T[],
      map: (event: LiveEvents[T]) => R | undefined = event => event as unknown as R,
      resume?: LiveResume,
    ) => {
      // A subscription that would wait forever for events nobody binds is a wiring mistake.
      const unbound = types.filter(type => !bindings.some(pattern => topicMatches(pattern, type)));
      if (unbound.length > 0) {
        throw new Error(`the live feed is not bound to ${unbound.join(', ')} (descriptor's live)`);
      }
      // A Repeater rather than an async generator: a generator waiting for its next event
      // cannot be returned until one arrives, which would leak the listener of every
      // subscriber who leaves while the feed is quiet.
      const events = new Repeater<Taken<R>>(async (push, stop) => {
        const source = pubsub.asyncIterableIterator<Positioned<LiveEvents[T]>>([...types]);
        // The first `next()` subscribes (synchronously): from here on nothing published is
        // missed, while the replay reads what was published before.
        const live = source.next();
        let high = resume?.after;
        const replayed =
          resume?.after !== undefined && replay
            ? (async () => {
                const rows = await replay.since(resume.after!, types, MAX_REPLAY + 1);
                if (rows.length > MAX_REPLAY)
                  throw new Error(`more than ${MAX_REPLAY} events to replay: refetch`);
                for (const row of rows) {
                  high = row.position;
                  const value = map(row.event as LiveEvents[T]);
                  if (value !== undefined)
                    await push({
                      value,
                      position: row.position,
                      id: row.event.id,
                      cause: row.traceParent,
                    });
                }
              })()
            : Promise.resolve();
        void (async () => {
          await replayed;
          for (let next = await live; !next.done; next = await source.next()) {
            const { event, position, cause } = next.value;
            // Replayed already (published between the subscription and the replay's read).
            if (position !== undefined && high !== undefined && position <= high) continue;
            const value = map(event);
            if (value !== undefined) await push({ value, position, id: event.id, cause });
          }
        })().catch((err: unknown) => stop(err));
        running.add(stop);
        await stop;
        running.delete(stop);
        await source.return?.();
      });
      return reportingPositions(events, resume);
    },
    stop: async () => {
      await consumer?.stop();
    },
  };
}

/**
 * The values of `events`, telling `resume.seen` each one's position as it is taken (not as it
 * is buffered): the position of what the subscriber has been sent.
 */
function reportingPositions<R>(
  events: Repeater<Taken<R>>,
  resume: LiveResume | undefined,
): AsyncIterableIterator<R> {
  const iterator: AsyncIterableIterator<R> = {
    next: async () => {
      const next = await events.next();
      if (next.done) return { done: true, value: undefined };
      resume?.seen(next.value.position, next.value.id, next.value.cause);
      return { done: false, value: next.value.value };
    },
    return: async () => {
      await events.return();
      return { done: true, value: undefined };
    },
    throw: async (err: unknown) => {
      await events.throw(err);
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
