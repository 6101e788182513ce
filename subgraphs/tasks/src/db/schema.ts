import { sql, type SQL } from 'drizzle-orm';
import {
  date,
  index,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uuid,
  type AnyPgColumn,
} from 'drizzle-orm/pg-core';
import { outbox, outboxPublishSeq, processedEvents } from '#lib/events/tables.js';
import { idempotencyKeys } from '#lib/subgraph/tables.js';

export { idempotencyKeys, outbox, outboxPublishSeq, processedEvents };

export const taskStatus = pgEnum('task_status', ['TODO', 'IN_PROGRESS', 'DONE']);
/** Declared in rank order: Postgres sorts and compares enum values by declaration, so PRIORITY orders LOW < MEDIUM < HIGH. */
export const taskPriority = pgEnum('task_priority', ['LOW', 'MEDIUM', 'HIGH']);
export const userRole = pgEnum('user_role', ['USER', 'ADMIN']);

/**
 * The DUE_DATE sort key: a missing due date counts as later than any date ('infinity'), so
 * it comes last in ASC and first in DESC, and one expression index serves both directions,
 * keyset comparisons and the due-date range filters.
 */
export const dueKeyOf = (dueDate: AnyPgColumn): SQL => sql`coalesce(${dueDate}, 'infinity'::date)`;

// Millisecond precision: timestamps travel in cursors and events as JS Dates (ms), and a
// keyset comparison must see exactly the value the row holds.
const instant = (name: string) =>
  timestamp(name, { withTimezone: true, mode: 'date', precision: 3 });

export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Trimmed, 1 to 200 characters. */
    title: text('title').notNull(),
    description: text('description'),
    status: taskStatus('status').notNull().default('TODO'),
    priority: taskPriority('priority').notNull().default('MEDIUM'),
    /** YYYY-MM-DD. */
    dueDate: date('due_date', { mode: 'string' }),
    /** A user of the users subgraph; no foreign key across services. */
    ownerId: uuid('owner_id').notNull(),
    assigneeId: uuid('assignee_id'),
    createdAt: instant('created_at').notNull().defaultNow(),
    updatedAt: instant('updated_at').notNull().defaultNow(),
  },
  // One index per ordering, each ending in id (the tie-breaker), so a page is an index range
  // scan whatever the ordering; owner and assignee indexes serve visibility and User.tasks.
  t => [
    index('tasks_created_idx').on(t.createdAt, t.id),
    index('tasks_updated_idx').on(t.updatedAt, t.id),
    index('tasks_priority_idx').on(t.priority, t.id),
    index('tasks_due_idx').using('btree', dueKeyOf(t.dueDate), t.id),
    index('tasks_status_idx').on(t.status, t.createdAt, t.id),
    index('tasks_owner_idx').on(t.ownerId, t.createdAt, t.id),
    index('tasks_assignee_idx').on(t.assigneeId, t.createdAt, t.id),
  ],
);

/**
 * What tasks knows of users, fed by `user.*` events: enough to validate an assignee
 * without calling the users service. A deleted user keeps a tombstone (`deletedAt`), so a
 * late `user.updated` cannot bring them back.
 */
export const userStubs = pgTable('user_stubs', {
  id: uuid('id').primaryKey(),
  username: text('username'),
  displayName: text('display_name'),
  role: userRole('role'),
  /** `occurredAt` of the newest event applied; an older event arriving late changes nothing. */
  syncedAt: instant('synced_at').notNull(),
  deletedAt: instant('deleted_at'),
});

export type TaskRow = typeof tasks.$inferSelect;
export type NewTaskRow = typeof tasks.$inferInsert;
export type UserStubRow = typeof userStubs.$inferSelect;
export type TaskStatus = TaskRow['status'];
export type TaskPriority = TaskRow['priority'];

/** Everything the tasks service's Drizzle client knows about. */
export const schema = {
  tasks,
  userStubs,
  taskStatus,
  taskPriority,
  userRole,
  outbox,
  processedEvents,
  idempotencyKeys,
};
