import { sql } from 'drizzle-orm';
import { index, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { outbox, outboxPublishSeq, processedEvents } from '#lib/events/tables.js';
import { idempotencyKeys } from '#lib/subgraph/tables.js';

export { idempotencyKeys, outbox, outboxPublishSeq, processedEvents };

export const notificationKind = pgEnum('notification_kind', [
  'TASK_ASSIGNED',
  'TASK_UNASSIGNED',
  'TASK_UPDATED',
  'TASK_COMPLETED',
  'TASK_DELETED',
]);

// Millisecond precision, like a JS Date: a cursor holding `createdAt` then names the row exactly.
const timestampMs = (name: string) =>
  timestamp(name, { withTimezone: true, mode: 'date', precision: 3 });

export const notifications = pgTable(
  'notifications',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The recipient. */
    userId: uuid('user_id').notNull(),
    kind: notificationKind('kind').notNull(),
    /** Rendered when the event was applied: a record of what happened, under the names of then. */
    message: text('message').notNull(),
    /** Set to null when the task is deleted. */
    taskId: uuid('task_id'),
    actorId: uuid('actor_id'),
    /** The event it came from; one notification per recipient and event. */
    eventId: uuid('event_id').notNull(),
    readAt: timestampMs('read_at'),
    createdAt: timestampMs('created_at').notNull().defaultNow(),
  },
  t => [
    uniqueIndex('notifications_event_user_key').on(t.eventId, t.userId),
    // DESC NULLS FIRST is what `order by … desc` means, so the index serves it as it is.
    index('notifications_user_created_idx').on(
      t.userId,
      t.createdAt.desc().nullsFirst(),
      t.id.desc().nullsFirst(),
    ),
    index('notifications_user_unread_idx')
      .on(t.userId)
      .where(sql`${t.readAt} is null`),
    index('notifications_task_idx')
      .on(t.taskId)
      .where(sql`${t.taskId} is not null`),
  ],
);

/**
 * What this service knows of users, fed by `user.*` events: enough to write "alice assigned
 * you …" without asking the users service. A deleted user stays as a tombstone, so a late
 * event cannot bring them back.
 */
export const userStubs = pgTable('user_stubs', {
  id: uuid('id').primaryKey(),
  username: text('username').notNull(),
  displayName: text('display_name').notNull(),
  deletedAt: timestamp('deleted_at', { withTimezone: true, mode: 'date' }),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

export type NotificationRow = typeof notifications.$inferSelect;
export type NewNotification = typeof notifications.$inferInsert;
export type UserStubRow = typeof userStubs.$inferSelect;

/** Everything the notifications service's Drizzle client knows about. */
export const schema = {
  notifications,
  userStubs,
  notificationKind,
  outbox,
  processedEvents,
  idempotencyKeys,
};
