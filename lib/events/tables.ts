import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  index,
  jsonb,
  pgSequence,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import type { EventEnvelope } from './envelope.js';

/**
 * Tables every producing or consuming service has in its own database. Each subgraph's
 * Drizzle schema re-exports them, so drizzle-kit puts them in that subgraph's migrations.
 */

/**
 * The order in which the relay publishes (`outbox.publish_seq`): one relay per database at a
 * time, so this is the order every live subscriber sees, and the order a subscriber that lost
 * its stream replays from (`lib/live.ts`). `seq` is not: a transaction that took a smaller
 * `seq` may commit, and be published, after one that took a larger.
 */
export const outboxPublishSeq = pgSequence('outbox_publish_seq');

/** Events written in the same transaction as the change they describe; the relay publishes them. */
export const outbox = pgTable(
  'outbox',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    id: uuid('id').notNull().unique(),
    type: text('type').notNull(),
    envelope: jsonb('envelope').$type<EventEnvelope>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    publishedAt: timestamp('published_at', { withTimezone: true, mode: 'date' }),
    /** Its place in publish order (`outboxPublishSeq`), set when the relay publishes it. */
    publishSeq: bigint('publish_seq', { mode: 'number' }),
    /**
     * The W3C `traceparent` of the transaction that wrote it (when traced): the relay sends it
     * in the message headers, so consumers continue the trace of the change.
     */
    traceParent: text('trace_parent'),
  },
  t => [
    index('outbox_unpublished_idx')
      .on(t.seq)
      .where(sql`${t.publishedAt} is null`),
    index('outbox_publish_seq_idx')
      .on(t.publishSeq)
      .where(sql`${t.publishSeq} is not null`),
  ],
);

/** Ids of events a consumer has applied, so a redelivered event changes nothing. */
export const processedEvents = pgTable(
  'processed_events',
  {
    consumer: text('consumer').notNull(),
    eventId: uuid('event_id').notNull(),
    processedAt: timestamp('processed_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
  },
  t => [primaryKey({ columns: [t.consumer, t.eventId] })],
);
