import { and, asc, count, gt, inArray, isNull, sql } from 'drizzle-orm';
import { queryRows, type Database, type Executor } from '../db.js';
import type { Logger } from '../log.js';
import { traceCarrier } from '../telemetry.js';
import type { EventBus } from './bus.js';
import { parseEvent, type AnyEvent, type EventEnvelope } from './envelope.js';
import { outbox } from './tables.js';
import { backoffDelay } from './timing.js';

type Schema = Record<string, unknown>;

/**
 * Key of the transaction-scoped advisory lock that lets one relay per database publish at a
 * time; that single publisher is what keeps events in commit order across replicas.
 */
const RELAY_LOCK = 7_301_995;
/** Events per publish and per transaction. */
export const OUTBOX_BATCH_SIZE = 100;
/** Wait before trying again while another replica holds the relay lock. */
const LOCK_RETRY_MS = 75;

/**
 * Writes events to the outbox. Call it inside the transaction that makes the change, after
 * writing the aggregate's row: the row lock then orders `seq` like the commits of that
 * aggregate, and the relay publishes in `seq` order.
 */
export async function enqueueEvents<TSchema extends Schema>(
  tx: Executor<TSchema>,
  events: readonly EventEnvelope[],
): Promise<void> {
  if (events.length === 0) return;
  const { traceparent } = traceCarrier();
  await tx.insert(outbox).values(
    events.map(event => ({
      id: event.id,
      type: event.type,
      envelope: event,
      traceParent: traceparent ?? null,
    })),
  );
}

export interface OutboxRelayOptions<TSchema extends Schema> {
  db: Database<TSchema>;
  bus: EventBus;
  log: Logger;
  /** How often to look for events nobody woke us for (other replicas' commits). Default 1000 ms. */
  pollIntervalMs?: number;
  /** Upper bound of the retry backoff after a failed publish. Default 5000 ms. */
  maxBackoffMs?: number;
}

export interface OutboxRelay {
  /** Publish soon: call after committing a transaction that enqueued events. */
  wake(): void;
  /**
   * Resolves once every event committed before the call has been published; rejects if a
   * publish attempt fails meanwhile (the relay itself keeps retrying).
   */
  flush(): Promise<void>;
  /** Number of events not yet published. */
  backlog(): Promise<number>;
  /** Finishes the batch in hand, then stops. */
  stop(): Promise<void>;
}

type PassResult = 'locked' | 'empty' | 'published';

interface FlushWaiter {
  /** Resolved by the first pass that started after the waiter and found nothing left. */
  afterPass: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Publishes the outbox to the bus, oldest first, marking rows published only after the
 * broker confirmed them. A failed publish is retried with backoff, never dropped; a crash
 * between confirm and commit republishes (consumers de-duplicate on the event id).
 */
export function startOutboxRelay<TSchema extends Schema>(
  options: OutboxRelayOptions<TSchema>,
): OutboxRelay {
  const { db, bus } = options;
  const log = options.log.child({ component: 'outbox-relay' });
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const maxBackoffMs = options.maxBackoffMs ?? 5000;

  let stopped = false;
  let woken = false;
  let passes = 0;
  let waiters: FlushWaiter[] = [];
  let interruptIdle: (() => void) | undefined;
  let wakeIdle: (() => void) | undefined;

  const idle = (ms: number, wakeable: boolean) =>
    new Promise<void>(resolve => {
      const done = () => {
        clearTimeout(timer);
        interruptIdle = undefined;
        wakeIdle = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      interruptIdle = done;
      if (wakeable) wakeIdle = done;
    });

  const pass = (): Promise<PassResult> =>
    db.transaction(async tx => {
      const [lock] = await queryRows<{ locked: boolean }>(
        tx,
        sql`select pg_try_advisory_xact_lock(${sql.raw(String(RELAY_LOCK))}) as locked`,
      );
      if (!lock?.locked) return 'locked';
      const rows = await tx
        .select({ seq: outbox.seq, envelope: outbox.envelope, traceParent: outbox.traceParent })
        .from(outbox)
        .where(isNull(outbox.publishedAt))
        .orderBy(asc(outbox.seq))
        .limit(OUTBOX_BATCH_SIZE);
      if (rows.length === 0) return 'empty';
      // Their places in publish order (`outboxPublishSeq`), reserved in one block: only the
      // lock holder takes from the sequence. Marked before publishing, committed only after
      // the broker confirmed: a failed publish rolls the marks back.
      const [reserved] = await queryRows<{ first: string | number }>(
        tx,
        sql`select setval('outbox_publish_seq', nextval('outbox_publish_seq') + ${rows.length - 1}) - ${rows.length - 1} as first`,
      );
      const first = Number(reserved!.first);
      await tx
        .update(outbox)
        .set({
          publishedAt: sql`now()`,
          publishSeq: sql`case ${outbox.seq} ${sql.join(
            rows.map((row, i) => sql`when ${row.seq} then ${first + i}::bigint`),
            sql` `,
          )} end`,
        })
        .where(
          inArray(
            outbox.seq,
            rows.map(row => row.seq),
          ),
        );
      await bus.publish(
        rows.map(row => row.envelope),
        rows.map((row, i) => ({
          position: first + i,
          ...(row.traceParent ? { traceparent: row.traceParent } : {}),
        })),
      );
      log.debug({ count: rows.length }, 'outbox events published');
      return 'published';
    });

  const settleWaiters = (startedPass: number, err?: Error) => {
    const keep: FlushWaiter[] = [];
    for (const waiter of waiters) {
      if (err) waiter.reject(err);
      else if (waiter.afterPass < startedPass) waiter.resolve();
      else keep.push(waiter);
    }
    waiters = keep;
  };

  const loop = async () => {
    let failures = 0;
    while (!stopped) {
      const started = ++passes;
      woken = false;
      let result: PassResult;
      try {
        result = await pass();
      } catch (err) {
        failures++;
        const retryInMs = backoffDelay(failures, 250, maxBackoffMs);
        log.warn({ err, retryInMs, failures }, 'outbox publish failed; events stay in the outbox');
        settleWaiters(started, err as Error);
        await idle(retryInMs, false);
        continue;
      }
      failures = 0;
      if (result === 'published') continue;
      if (result === 'locked') {
        await idle(LOCK_RETRY_MS, false);
        continue;
      }
      settleWaiters(started);
      if (!woken) await idle(pollIntervalMs, true);
    }
  };
  const running = loop();

  const wake = () => {
    woken = true;
    wakeIdle?.();
  };

  return {
    wake,

    flush() {
      if (stopped) return Promise.reject(new Error('outbox relay is stopped'));
      return new Promise<void>((resolve, reject) => {
        waiters.push({ afterPass: passes, resolve, reject });
        wake();
      });
    },

    async backlog() {
      const [row] = await db.select({ n: count() }).from(outbox).where(isNull(outbox.publishedAt));
      return row?.n ?? 0;
    },

    async stop() {
      stopped = true;
      interruptIdle?.();
      await running;
      for (const waiter of waiters) waiter.reject(new Error('outbox relay stopped'));
      waiters = [];
    },
  };
}

/**
 * The events of `types` (all when undefined) this database published after `position`, in
 * publish order, at most `limit`: what a live subscription that lost its stream missed
 * (`LiveReplay`, lib/live.ts).
 * It first waits for a relay pass in flight (the relay holds its lock until it commits), whose
 * events may have reached live subscribers already and must be visible here.
 */
export async function publishedSince<TSchema extends Schema>(
  db: Database<TSchema>,
  position: number,
  types: readonly string[] | undefined,
  limit: number,
): Promise<{ position: number; event: AnyEvent; traceParent: string | undefined }[]> {
  if (types?.length === 0) return [];
  return db.transaction(async tx => {
    await tx.execute(sql`select pg_advisory_xact_lock_shared(${sql.raw(String(RELAY_LOCK))})`);
    const rows = await tx
      .select({
        position: outbox.publishSeq,
        type: outbox.type,
        envelope: outbox.envelope,
        traceParent: outbox.traceParent,
      })
      .from(outbox)
      .where(
        and(gt(outbox.publishSeq, position), types ? inArray(outbox.type, [...types]) : undefined),
      )
      .orderBy(asc(outbox.publishSeq))
      .limit(limit);
    // As live subscribers get them: through JSON and the contract's parser.
    return rows.map(row => ({
      position: row.position!,
      event: parseEvent(JSON.stringify(row.envelope), row.type),
      traceParent: row.traceParent ?? undefined,
    }));
  });
}

/** The position of the last event this database published (0 when none yet). */
export async function lastPublished<TSchema extends Schema>(
  db: Database<TSchema>,
): Promise<number> {
  const [row] = await queryRows<{ last: string | number | null }>(
    db,
    sql`select max(publish_seq) as last from outbox`,
  );
  return Number(row?.last ?? 0);
}
