import { isUuid, type Executor } from '#lib/db.js';
import type { EventHandler } from '#lib/events/bus.js';
import { createEvent, PoisonMessageError, type AnyEvent } from '#lib/events/envelope.js';
import { applyOnce } from '#lib/events/inbox.js';
import { enqueueEvents } from '#lib/events/outbox.js';
import type { ConsumerInfo } from '#lib/subgraph/descriptor.js';
import type { NotificationsDeps } from './context.js';
import * as q from './db/queries.js';
import type { NotificationRow, schema } from './db/schema.js';
import { actorName, messageOf, recipientsOf, type TaskEvent } from './rules.js';

/**
 * What the notifications service consumes and publishes. It consumes `task.*` (which
 * become notifications) and `user.*` (the names messages use, and account deletions); it
 * publishes `notification.created` for every notification it writes.
 */

type Db = Executor<typeof schema>;
type UserEvent = Extract<AnyEvent, { type: `user.${string}` }>;

const notificationCreated = (n: NotificationRow) =>
  createEvent(
    'notification.created',
    {
      notification: {
        id: n.id,
        userId: n.userId,
        kind: n.kind,
        message: n.message,
        taskId: n.taskId,
        actorId: n.actorId,
        read: n.readAt !== null,
        createdAt: n.createdAt.toISOString(),
      },
    },
    { producer: 'notifications', actorId: n.actorId },
  );

const isTaskEvent = (event: AnyEvent): event is TaskEvent => event.type.startsWith('task.');
const isUserEvent = (event: AnyEvent): event is UserEvent => event.type.startsWith('user.');

/** Ids are uuids here (they are columns); an event naming anything else can never be applied. */
function requireUuids(event: AnyEvent, ids: ReadonlyArray<string | null>): void {
  const bad = ids.find(id => id !== null && !isUuid(id));
  if (bad !== undefined)
    throw new PoisonMessageError(
      `"${event.type}" names an id that is not a uuid: ${JSON.stringify(bad)}`,
    );
}

/**
 * Writes the notifications a task event calls for, and their `notification.created` events,
 * in the caller's transaction. Returns the notifications written.
 */
async function applyTaskEvent(tx: Db, event: TaskEvent): Promise<NotificationRow[]> {
  const { task } = event.data;
  if (event.type === 'task.deleted') await q.detachTask(tx, task.id);
  const recipients = recipientsOf(event);
  if (recipients.length === 0) return [];
  const known = await q.stubsByIds(tx, [
    ...recipients.map(r => r.userId),
    ...(event.actorId ? [event.actorId] : []),
  ]);
  const stubs = new Map(known.map(s => [s.id, s]));
  const actor = actorName(event.actorId ? stubs.get(event.actorId) : undefined);
  const createdAt = new Date();
  const rows = await q.insertNotifications(
    tx,
    recipients
      // A user known to be deleted has nobody left to read it.
      .filter(r => !stubs.get(r.userId)?.deletedAt)
      .map(r => ({
        userId: r.userId,
        kind: r.kind,
        message: messageOf(r.kind, event, actor),
        taskId: event.type === 'task.deleted' ? null : task.id,
        actorId: event.actorId,
        eventId: event.id,
        createdAt,
      })),
  );
  await enqueueEvents(tx, rows.map(notificationCreated));
  return rows;
}

/** Keeps the user stubs in step; a deleted user's notifications go with them. */
async function applyUserEvent(tx: Db, event: UserEvent): Promise<void> {
  switch (event.type) {
    case 'user.created':
    case 'user.updated':
      await q.upsertStub(tx, {
        id: event.data.id,
        username: event.data.username,
        displayName: event.data.displayName,
      });
      return;
    case 'user.deleted':
      await q.tombstoneStub(tx, event.data.id);
      await q.deleteNotificationsOf(tx, event.data.id);
      return;
  }
}

/** What the consumers need: the database and the relay's wake-up after commit. */
type ConsumerDeps = Pick<NotificationsDeps, 'db' | 'onOutboxWrite'>;

/** Handles `task.*` (queue `notifications.task-events`): notifications, each applied once. */
export function taskEventsHandler(deps: ConsumerDeps, { queue, log }: ConsumerInfo): EventHandler {
  return async event => {
    if (!isTaskEvent(event))
      throw new PoisonMessageError(`"${event.type}" does not belong on ${queue}`);
    const { task } = event.data;
    requireUuids(event, [
      event.actorId,
      task.id,
      task.ownerId,
      task.assigneeId,
      event.type === 'task.assigned' ? event.data.previousAssigneeId : null,
    ]);
    let written: NotificationRow[] = [];
    const applied = await applyOnce(deps.db, queue, event, async tx => {
      written = await applyTaskEvent(tx, event);
    });
    if (written.length > 0) deps.onOutboxWrite();
    log.debug(
      { eventId: event.id, type: event.type, applied, notifications: written.length },
      'task event handled',
    );
  };
}

/** Handles `user.*` (queue `notifications.user-sync`): stubs and deletions, each applied once. */
export function userEventsHandler(deps: ConsumerDeps, { queue, log }: ConsumerInfo): EventHandler {
  return async event => {
    if (!isUserEvent(event))
      throw new PoisonMessageError(`"${event.type}" does not belong on ${queue}`);
    requireUuids(event, [event.data.id]);
    const applied = await applyOnce(deps.db, queue, event, tx => applyUserEvent(tx, event));
    log.debug({ eventId: event.id, type: event.type, applied }, 'user event handled');
  };
}
