import type { Executor } from '#lib/db.js';
import { badUserInput, unauthenticated } from '#lib/errors.js';
import { enqueueEvents } from '#lib/events/outbox.js';
import type { CreateTaskInput, UpdateTaskInput } from './__generated__/resolvers-types.js';
import { requireManager, requireMayChange, requireVisible, type Viewer } from './access.js';
import type { TasksDeps } from './context.js';
import * as q from './db/queries.js';
import type { NewTaskRow, schema, TaskPriority, TaskRow, TaskStatus } from './db/schema.js';
import { taskAssigned, taskCreated, taskDeleted, taskUpdated } from './events.js';
import * as valid from './validation.js';

/** What the writes need: the database, and the relay's wake-up after commit. */
type WriteDeps = Pick<TasksDeps, 'db' | 'onOutboxWrite'>;

/**
 * The task mutations. Each checks its input first, then in one transaction locks the task,
 * checks access, writes the change and its events to the outbox: a change and its event
 * commit together or not at all.
 */

type Db = Executor<typeof schema>;

/** The fields of an update that were given, checked; absent fields stay as they are. */
export interface TaskPatch {
  title?: string;
  description?: string | null;
  status?: TaskStatus;
  priority?: TaskPriority;
  dueDate?: string | null;
}

/** The updatable fields, by API name, in the order `changed` lists them. */
const PATCH_FIELDS = ['title', 'description', 'status', 'priority', 'dueDate'] as const;

export function taskPatch(input: UpdateTaskInput): TaskPatch {
  const patch: TaskPatch = {};
  const required = <T>(value: T | null, field: string): T => {
    if (value === null) throw badUserInput(`${field} cannot be null`, field);
    return value;
  };
  if (input.title !== undefined) patch.title = valid.title(input.title);
  if (input.description !== undefined) patch.description = valid.description(input.description);
  if (input.status !== undefined) patch.status = required(input.status, 'input.status');
  if (input.priority !== undefined) patch.priority = required(input.priority, 'input.priority');
  if (input.dueDate !== undefined)
    patch.dueDate = valid.optionalDate(input.dueDate, 'input.dueDate');
  return patch;
}

/** What a patch really changes: the fields, their previous values, and the columns to set. */
export function diffTask(task: TaskRow, patch: TaskPatch) {
  const changed: string[] = [];
  const previous: Record<string, unknown> = {};
  const set: Partial<NewTaskRow> = {};
  for (const field of PATCH_FIELDS) {
    const next = patch[field];
    if (next === undefined || next === task[field]) continue;
    changed.push(field);
    previous[field] = task[field];
    Object.assign(set, { [field]: next });
  }
  return { changed, previous, set };
}

/** An assignee must be a user this service knows and who is not deleted. */
async function requireAssignable(
  tx: Db,
  viewer: Viewer,
  userId: string,
  field: string,
): Promise<void> {
  const stub = await q.stubForShare(tx, userId);
  // The viewer exists (the token says so) even before their stub has arrived.
  const known = stub ? stub.deletedAt === null : userId === viewer.id;
  if (!known) throw badUserInput('No such user to assign the task to', field);
}

export async function createTask(
  deps: WriteDeps,
  viewer: Viewer,
  input: CreateTaskInput,
): Promise<TaskRow> {
  const values: NewTaskRow = {
    title: valid.title(input.title),
    description: valid.description(input.description),
    status: input.status ?? 'TODO',
    priority: input.priority ?? 'MEDIUM',
    dueDate: valid.optionalDate(input.dueDate, 'input.dueDate'),
    ownerId: viewer.id,
    assigneeId: input.assigneeId ?? null,
  };
  const task = await deps.db.transaction(async tx => {
    // Share-locks the owner's stub: a `user.deleted` applied meanwhile waits for this
    // commit and then deletes the new task with the rest, instead of missing it.
    const owner = await q.stubForShare(tx, viewer.id);
    if (owner?.deletedAt) throw unauthenticated('Your account no longer exists');
    // Any id given is checked, "" included: only a user's uuid may reach the uuid column.
    if (values.assigneeId != null)
      await requireAssignable(tx, viewer, values.assigneeId, 'input.assigneeId');
    const task = await q.insertTask(tx, values);
    await enqueueEvents(tx, [
      taskCreated(task, viewer.id),
      ...(task.assigneeId ? [taskAssigned(task, null, viewer.id)] : []),
    ]);
    return task;
  });
  deps.onOutboxWrite();
  return task;
}

export async function updateTask(
  deps: WriteDeps,
  viewer: Viewer,
  id: string,
  input: UpdateTaskInput,
): Promise<TaskRow> {
  const patch = taskPatch(input);
  const { task, changed } = await deps.db.transaction(async tx => {
    const current = requireVisible(viewer, await q.taskForUpdate(tx, id));
    const diff = diffTask(current, patch);
    requireMayChange(viewer, current, diff.changed);
    // Nothing changes: no write, no event.
    if (diff.changed.length === 0) return { task: current, changed: false };
    const task = await q.updateTask(tx, current.id, diff.set);
    await enqueueEvents(tx, [taskUpdated(task, diff.changed, diff.previous, viewer.id)]);
    return { task, changed: true };
  });
  if (changed) deps.onOutboxWrite();
  return task;
}

export async function assignTask(
  deps: WriteDeps,
  viewer: Viewer,
  id: string,
  assigneeId: string | null | undefined,
): Promise<TaskRow> {
  const target = assigneeId ?? null;
  const { task, changed } = await deps.db.transaction(async tx => {
    const current = requireVisible(viewer, await q.taskForUpdate(tx, id));
    requireManager(viewer, current, 'assign');
    if (current.assigneeId === target) return { task: current, changed: false };
    if (target !== null) await requireAssignable(tx, viewer, target, 'assigneeId');
    const task = await q.updateTask(tx, current.id, { assigneeId: target });
    await enqueueEvents(tx, [taskAssigned(task, current.assigneeId, viewer.id)]);
    return { task, changed: true };
  });
  if (changed) deps.onOutboxWrite();
  return task;
}

/** Returns the id of the deleted task. */
export async function deleteTask(deps: WriteDeps, viewer: Viewer, id: string): Promise<string> {
  const deleted = await deps.db.transaction(async tx => {
    const current = requireVisible(viewer, await q.taskForUpdate(tx, id));
    requireManager(viewer, current, 'delete');
    await q.deleteTask(tx, current.id);
    await enqueueEvents(tx, [taskDeleted(current, viewer.id)]);
    return current;
  });
  deps.onOutboxWrite();
  return deleted.id;
}
