import type { AnyEvent, TaskEventRow } from '#lib/events/envelope.js';
import type { NotificationRow, UserStubRow } from './db/schema.js';

/**
 * Who hears of a task event, and in which words. Pure: the consumer in `events.ts` feeds it
 * the event and the names it knows, and writes what comes out.
 */

export type NotificationKind = NotificationRow['kind'];
export type TaskEvent = Extract<AnyEvent, { type: `task.${string}` }>;

export interface Recipient {
  userId: string;
  kind: NotificationKind;
}

/** Whether this update moved the task to DONE (and not merely touched a task already done). */
function becameDone(event: Extract<TaskEvent, { type: 'task.updated' }>): boolean {
  const { task, changed, previous } = event.data;
  return changed.includes('status') && task.status === 'DONE' && previous.status !== 'DONE';
}

/**
 * The stakeholders to notify, at most one notification each, never the actor:
 * - `task.created`: nobody (an assignment at creation comes as its own `task.assigned`);
 * - `task.assigned`: the new assignee TASK_ASSIGNED, the previous one TASK_UNASSIGNED;
 * - `task.updated`: owner and assignee TASK_UPDATED, except that the owner gets
 *   TASK_COMPLETED when the status became DONE; nobody when nothing changed;
 * - `task.deleted`: the assignee TASK_DELETED.
 */
export function recipientsOf(event: TaskEvent): Recipient[] {
  const chosen = new Map<string, NotificationKind>();
  // First come, first kept: the owner's kind wins when owner and assignee are one person.
  const add = (userId: string | null, kind: NotificationKind) => {
    if (userId && userId !== event.actorId && !chosen.has(userId)) chosen.set(userId, kind);
  };
  switch (event.type) {
    case 'task.created':
      break;
    case 'task.assigned': {
      const { task, previousAssigneeId } = event.data;
      if (task.assigneeId === previousAssigneeId) break;
      add(task.assigneeId, 'TASK_ASSIGNED');
      add(previousAssigneeId, 'TASK_UNASSIGNED');
      break;
    }
    case 'task.updated': {
      if (event.data.changed.length === 0) break;
      add(event.data.task.ownerId, becameDone(event) ? 'TASK_COMPLETED' : 'TASK_UPDATED');
      add(event.data.task.assigneeId, 'TASK_UPDATED');
      break;
    }
    case 'task.deleted':
      add(event.data.task.assigneeId, 'TASK_DELETED');
      break;
  }
  return [...chosen].map(([userId, kind]) => ({ userId, kind }));
}

/** How a message names the actor: their display name, or "Someone" when unknown or deleted. */
export function actorName(
  stub: Pick<UserStubRow, 'username' | 'displayName' | 'deletedAt'> | undefined,
): string {
  if (!stub || stub.deletedAt) return 'Someone';
  return stub.displayName.trim() || stub.username || 'Someone';
}

const MAX_TITLE = 80;
const quoted = (title: string) =>
  `"${title.length > MAX_TITLE ? `${title.slice(0, MAX_TITLE - 1).trimEnd()}…` : title}"`;

const STATUS_LABEL: Record<TaskEventRow['status'], string> = {
  TODO: 'To do',
  IN_PROGRESS: 'In progress',
  DONE: 'Done',
};
const FIELD_LABEL: Record<string, string> = {
  title: 'title',
  description: 'description',
  status: 'status',
  priority: 'priority',
  dueDate: 'due date',
};

/** "a", "a and b", "a, b and c". */
function listOf(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

function describeUpdate(
  actor: string,
  event: Extract<TaskEvent, { type: 'task.updated' }>,
): string {
  const { task, changed, previous } = event.data;
  const title = quoted(task.title);
  if (changed.length === 1 && changed[0] === 'status')
    return `${actor} moved ${title} to ${STATUS_LABEL[task.status]}`;
  if (changed.length === 1 && changed[0] === 'title' && typeof previous.title === 'string') {
    return `${actor} renamed ${quoted(previous.title)} to ${title}`;
  }
  const fields = changed.flatMap(field => (FIELD_LABEL[field] ? [FIELD_LABEL[field]] : []));
  return fields.length > 0
    ? `${actor} changed the ${listOf(fields)} of ${title}`
    : `${actor} updated ${title}`;
}

/** The sentence a recipient reads, e.g. `alice assigned you "Write the report"`. */
export function messageOf(kind: NotificationKind, event: TaskEvent, actor: string): string {
  const title = quoted(event.data.task.title);
  switch (kind) {
    case 'TASK_ASSIGNED':
      return `${actor} assigned you ${title}`;
    case 'TASK_UNASSIGNED':
      return `${actor} unassigned you from ${title}`;
    case 'TASK_COMPLETED':
      return `${actor} completed ${title}`;
    case 'TASK_DELETED':
      return `${actor} deleted ${title}`;
    case 'TASK_UPDATED':
      return event.type === 'task.updated'
        ? describeUpdate(actor, event)
        : `${actor} updated ${title}`;
  }
}
