import { index, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Tables every subgraph has in its own database, next to the events' (lib/events/tables.ts).
 * Each subgraph's Drizzle schema re-exports them, so drizzle-kit puts them in that subgraph's
 * migrations.
 */

/**
 * Mutation requests done under an Idempotency-Key, by viewer and key, with the answer they
 * got: written in the transaction of the change itself, so a change and its record commit
 * together or not at all (lib/subgraph/idempotency.ts). Kept IDEMPOTENCY_KEY_RETENTION_HOURS.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    /** The signed-in viewer's user id: two users' keys never meet. */
    viewer: text('viewer').notNull(),
    /** As the router numbered it: `<n>:<the client's key>`. */
    key: text('key').notNull(),
    /** SHA-256 of the request (operation, its name, variables): a key stands for one request. */
    requestDigest: text('request_digest').notNull(),
    /** The HTTP status and body answered, replayed to a repeat. */
    status: integer('status').notNull(),
    body: text('body').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  t => [
    primaryKey({ columns: [t.viewer, t.key] }),
    index('idempotency_keys_created_idx').on(t.createdAt),
  ],
);
