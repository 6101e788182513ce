import type { Database, Transaction } from '../db.js';
import type { AnyEvent } from './envelope.js';
import { processedEvents } from './tables.js';

/**
 * Applies an event at most once per consumer: records `(consumer, event.id)` and runs
 * `apply` in the same transaction, so the record and the effect commit or roll back
 * together. Returns false, without calling `apply`, when the event was applied before.
 * A concurrent duplicate waits on the primary key and then sees the conflict. Ack the
 * message only after this resolves.
 */
export async function applyOnce<TSchema extends Record<string, unknown>>(
  db: Database<TSchema>,
  consumer: string,
  event: AnyEvent,
  apply: (tx: Transaction<TSchema>) => Promise<void>,
): Promise<boolean> {
  return db.transaction(async tx => {
    const recorded = await tx
      .insert(processedEvents)
      .values({ consumer, eventId: event.id })
      .onConflictDoNothing()
      .returning({ eventId: processedEvents.eventId });
    if (recorded.length === 0) return false;
    await apply(tx);
    return true;
  });
}
