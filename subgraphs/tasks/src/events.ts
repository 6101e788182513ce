import { createEvent, type TaskEventRow } from '#lib/events/envelope.js';
import type { LiveEvents } from '#lib/live.js';
import { canSee, type Viewer } from './access.js';
import type { TaskRow } from './db/schema.js';
import type { TaskEventModel } from './models.js';

/**
 * What the tasks service publishes: `task.created`, `task.updated`, `task.assigned`,
 * `task.deleted` (docs/events.md). It consumes `user.*` (see user-sync.ts).
 */

/** A task as it travels on the bus: timestamps as ISO strings, dueDate as YYYY-MM-DD. */
const taskEventRow = (t: TaskRow): TaskEventRow => ({
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
export const taskUpdated = (
  t: TaskRow,
  changed: string[],
  previous: Record<string, unknown>,
  actorId: string | null,
) => createEvent('task.updated', { task: taskEventRow(t), changed, previous }, meta(actorId));

/** Sent on unassign too, with `task.assigneeId` null. */
export const taskAssigned = (
  t: TaskRow,
  previousAssigneeId: string | null,
  actorId: string | null,
) => createEvent('task.assigned', { task: taskEventRow(t), previousAssigneeId }, meta(actorId));

/** `t` is the row as it was before the delete. */
export const taskDeleted = (t: TaskRow, actorId: string | null) =>
  createEvent('task.deleted', { task: taskEventRow(t) }, meta(actorId));

/** The task row of a live event, as resolvers take it (the bus carries ISO strings). */
const taskRowOf = (t: TaskEventRow): TaskRow => ({
  ...t,
  createdAt: new Date(t.createdAt),
  updatedAt: new Date(t.updatedAt),
});

export const TASK_EVENT_TYPES = [
  'task.created',
  'task.updated',
  'task.assigned',
  'task.deleted',
] as const;
type LiveTaskEvent = LiveEvents[(typeof TASK_EVENT_TYPES)[number]];

/**
 * One live `task.*` event as `viewer` may see it, or undefined when it is none of their
 * business: they see the changes of tasks they could see before or after the change (an
 * admin sees all). The task itself is shown only if they may still see it afterwards.
 */
export function taskEventFor(
  viewer: Viewer,
  event: LiveTaskEvent,
  filter: { taskId: string | null; kinds: ReadonlySet<TaskEventModel['kind']> | null },
): TaskEventModel | undefined {
  const after = event.data.task;
  const kind =
    event.type === 'task.created'
      ? 'CREATED'
      : event.type === 'task.deleted'
        ? 'DELETED'
        : 'UPDATED';
  if (filter.taskId !== null && filter.taskId !== after.id) return undefined;
  if (filter.kinds !== null && !filter.kinds.has(kind)) return undefined;
  const before =
    event.type === 'task.assigned'
      ? { ownerId: after.ownerId, assigneeId: event.data.previousAssigneeId }
      : after;
  const visibleAfter = kind !== 'DELETED' && canSee(viewer, after);
  if (!visibleAfter && !canSee(viewer, before)) return undefined;
  return {
    kind,
    taskId: after.id,
    task: visibleAfter ? taskRowOf(after) : null,
    actorId: event.actorId,
    occurredAt: new Date(event.occurredAt),
  };
}
