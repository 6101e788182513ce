import { createEvent, type TaskEventRow } from '#lib/events/envelope.js';
import type { TaskRow } from './db/schema.js';

/**
 * What the tasks service publishes: `task.created`, `task.updated`, `task.assigned`,
 * `task.deleted` (shared/contract/events.md). It consumes `user.*` (see user-sync.ts).
 */

/** A task as it travels on the bus: timestamps as ISO strings, dueDate as YYYY-MM-DD. */
export const taskEventRow = (t: TaskRow): TaskEventRow => ({
  id: t.id,
  title: t.title,
  description: t.description,
  status: t.status,
  priority: t.priority,
  dueDate: t.dueDate,
  ownerId: t.ownerId,
  assigneeId: t.assigneeId,
  createdAt: t.createdAt.toISOString(),
  updatedAt: t.updatedAt.toISOString(),
});

const meta = (actorId: string | null) => ({ producer: 'tasks' as const, actorId });

export const taskCreated = (t: TaskRow, actorId: string | null) =>
  createEvent('task.created', { task: taskEventRow(t) }, meta(actorId));

/** `changed` lists the fields by their API names; `previous` holds their values before. */
export const taskUpdated = (t: TaskRow, changed: string[], previous: Record<string, unknown>, actorId: string | null) =>
  createEvent('task.updated', { task: taskEventRow(t), changed, previous }, meta(actorId));

/** Sent on unassign too, with `task.assigneeId` null. */
export const taskAssigned = (t: TaskRow, previousAssigneeId: string | null, actorId: string | null) =>
  createEvent('task.assigned', { task: taskEventRow(t), previousAssigneeId }, meta(actorId));

/** `t` is the row as it was before the delete. */
export const taskDeleted = (t: TaskRow, actorId: string | null) =>
  createEvent('task.deleted', { task: taskEventRow(t) }, meta(actorId));
