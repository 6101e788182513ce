import { isUuid, type Database } from '#lib/db.js';
import { PoisonMessageError, type AnyEvent } from '#lib/events/envelope.js';
import { applyOnce } from '#lib/events/inbox.js';
import { enqueueEvents } from '#lib/events/outbox.js';
import type { Logger } from '#lib/log.js';
import * as q from './db/queries.js';
import type { schema } from './db/schema.js';
import { taskAssigned, taskDeleted } from './events.js';

/** What keeping `user_stubs` in step with the users service needs (queue `tasks.user-sync`). */
export interface UserSyncDeps {
  db: Database<typeof schema>;
  /** Called after a transaction that wrote to the outbox commits. */
  onOutboxWrite: () => void;
  log: Logger;
  /** The work queue's full name: the consumer under which applied events are recorded. */
  queue: string;
}

/**
 * Applies one `user.*` event, once (a redelivery changes nothing):
 * - `user.created` / `user.updated` create or refresh the stub, unless a newer event (by
 *   `occurredAt`) was applied already or the user is deleted — so arriving out of order is fine;
 * - `user.deleted` leaves a tombstone, deletes the user's own tasks and unassigns the tasks
 *   assigned to them, each with its event, all in one transaction.
 */
export async function applyUserEvent(deps: UserSyncDeps, event: AnyEvent): Promise<void> {
  switch (event.type) {
    case 'user.created':
    case 'user.updated': {
      const { id, username, displayName, role } = event.data;
      if (!isUuid(id)) throw new PoisonMessageError(`user id "${id}" is not a uuid`);
      await applyOnce(deps.db, deps.queue, event, tx =>
        q.upsertStub(tx, { id, username, displayName, role, syncedAt: new Date(event.occurredAt) }),
      );
      return;
    }
    case 'user.deleted': {
      const { id } = event.data;
      if (!isUuid(id)) throw new PoisonMessageError(`user id "${id}" is not a uuid`);
      let published = 0;
      await applyOnce(deps.db, deps.queue, event, async tx => {
        // The tombstone first: it waits for any task creation or assignment that holds the
        // stub, so the statements below see what those wrote.
        await q.tombstoneStub(tx, id, new Date(event.occurredAt));
        const deleted = await q.deleteTasksOwnedBy(tx, id);
        const unassigned = await q.unassignTasksOf(tx, id);
        const events = [
          ...deleted.map(task => taskDeleted(task, event.actorId)),
          ...unassigned.map(task => taskAssigned(task, id, event.actorId)),
        ];
        await enqueueEvents(tx, events);
        published = events.length;
      });
      if (published > 0) {
        deps.log.info(
          { userId: id, events: published },
          'deleted user: tasks deleted and unassigned',
        );
        deps.onOutboxWrite();
      }
      return;
    }
    default:
      // Bound to user.* only; anything else is not ours to apply.
      return;
  }
}
