import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '#lib/db.js';
import { createEvent, PoisonMessageError, type AnyEvent } from '#lib/events/envelope.js';
import { waitFor } from '../../../test/support/wait.js';
import { openTasksDb, type Driver, type OpenedTasksDb, type TasksDb } from './__fixtures__/db.js';
import * as q from './db/queries.js';
import { outbox, tasks } from './db/schema.js';
import { createTask } from './tasks.js';
import { applyUserEvent, type UserSyncDeps } from './user-sync.js';

/** The `tasks.user-sync` consumer against real databases, Postgres and PGlite alike. */

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));
const userEvent = (
  type: 'user.created' | 'user.updated',
  id: string,
  displayName: string,
  occurredAt: Date,
  role: 'USER' | 'ADMIN' = 'USER',
) =>
  createEvent(
    type,
    { id, username: `u${id.slice(0, 4)}`, displayName, role },
    { producer: 'users', actorId: id, occurredAt },
  ) as AnyEvent;
const userDeleted = (id: string, occurredAt = at(30)) =>
  createEvent('user.deleted', { id }, { producer: 'users', actorId: id, occurredAt }) as AnyEvent;

// One database per driver for the suite (PGlite is slow to start); tests use users of their own.
describe.each<Driver>(['postgres', 'pglite'])('user sync on %s', driver => {
  let opened: OpenedTasksDb;
  let db: TasksDb;
  let deps: UserSyncDeps;
  let wakes: number;

  beforeAll(async () => {
    opened = await openTasksDb(driver);
    db = opened.db;
    deps = {
      db,
      onOutboxWrite: () => void wakes++,
      log: pino({ level: 'silent' }),
      queue: 'tasks.user-sync',
    };
  });
  beforeEach(() => {
    wakes = 0;
  });
  afterAll(async () => {
    await opened?.close();
  });

  const stub = async (id: string) => (await q.stubsByIds(db, [id]))[0];
  /** Events in the outbox about these tasks, in commit order. */
  const published = async (taskIds: string[]) =>
    (await db.select().from(outbox).orderBy(outbox.seq))
      .map(row => row.envelope)
      .filter(e => 'task' in e.data && taskIds.includes(e.data.task.id));

  it('keeps the newest name and role, whatever order the events arrive in', async () => {
    const id = randomUUID();
    await applyUserEvent(deps, userEvent('user.updated', id, 'Newer', at(2)));
    expect(await stub(id)).toMatchObject({ displayName: 'Newer', deletedAt: null });
    await applyUserEvent(deps, userEvent('user.created', id, 'Original', at(1)));
    expect((await stub(id))?.displayName).toBe('Newer');
    await applyUserEvent(deps, userEvent('user.updated', id, 'Newest', at(3), 'ADMIN'));
    expect(await stub(id)).toMatchObject({ displayName: 'Newest', role: 'ADMIN' });
  });

  it('applies an event once, however often it is delivered', async () => {
    const id = randomUUID();
    const first = userEvent('user.updated', id, 'First', at(5));
    await applyUserEvent(deps, first);
    // Another change of the same instant: only de-duplication keeps the redelivery from undoing it.
    await applyUserEvent(deps, userEvent('user.updated', id, 'Second', at(5)));
    await applyUserEvent(deps, first);
    expect((await stub(id))?.displayName).toBe('Second');
  });

  it('on user.deleted: deletes their tasks, unassigns their assignments, each with its event, once', async () => {
    const gone = randomUUID();
    const other = randomUUID();
    for (const id of [gone, other])
      await applyUserEvent(deps, userEvent('user.created', id, 'x', at(1)));
    const own = await q.insertTask(db, { title: 'own', ownerId: gone, assigneeId: other });
    const selfAssigned = await q.insertTask(db, { title: 'self', ownerId: gone, assigneeId: gone });
    const theirs = await q.insertTask(db, { title: 'theirs', ownerId: other, assigneeId: gone });
    const untouched = await q.insertTask(db, { title: 'untouched', ownerId: other });

    await applyUserEvent(deps, userDeleted(gone));
    await applyUserEvent(deps, userDeleted(gone));

    const ids = [own.id, selfAssigned.id, theirs.id, untouched.id];
    const left = await q.tasksByIds(db, ids);
    expect(left.map(t => t.id).sort()).toEqual([theirs.id, untouched.id].sort());
    expect(left.find(t => t.id === theirs.id)?.assigneeId).toBeNull();
    const events = await published(ids);
    expect(events.map(e => e.type).sort()).toEqual([
      'task.assigned',
      'task.deleted',
      'task.deleted',
    ]);
    expect(events.filter(e => e.type === 'task.deleted').map(e => e.data)).toEqual(
      expect.arrayContaining([
        {
          task: expect.objectContaining({
            id: own.id,
            assigneeId: other,
            createdAt: own.createdAt.toISOString(),
          }),
        },
        { task: expect.objectContaining({ id: selfAssigned.id, ownerId: gone }) },
      ]),
    );
    expect(events.find(e => e.type === 'task.assigned')).toMatchObject({
      actorId: gone,
      producer: 'tasks',
      data: { previousAssigneeId: gone, task: { id: theirs.id, assigneeId: null } },
    });
    expect(wakes).toBe(1);

    // A tombstone: a late update does not bring the user back.
    await applyUserEvent(deps, userEvent('user.updated', gone, 'Zombie', at(59)));
    expect(await stub(gone)).toMatchObject({ displayName: 'x', deletedAt: expect.any(Date) });
  });

  it('leaves a tombstone for a user it never heard of', async () => {
    const id = randomUUID();
    const before = (await db.select().from(outbox)).length;
    await applyUserEvent(deps, userDeleted(id));
    await applyUserEvent(deps, userEvent('user.created', id, 'Late', at(1)));
    expect(await stub(id)).toMatchObject({ username: null, deletedAt: expect.any(Date) });
    expect(await db.select().from(outbox)).toHaveLength(before);
    expect(wakes).toBe(0);
  });

  it('dead-letters an event whose user id cannot be one', async () => {
    await expect(
      applyUserEvent(deps, userEvent('user.created', 'not-a-uuid', 'x', at(1))),
    ).rejects.toBeInstanceOf(PoisonMessageError);
    await expect(applyUserEvent(deps, userDeleted('not-a-uuid'))).rejects.toBeInstanceOf(
      PoisonMessageError,
    );
  });
});

describe('user sync racing task changes on postgres', () => {
  let opened: OpenedTasksDb;
  let deps: UserSyncDeps;

  beforeEach(async () => {
    opened = await openTasksDb('postgres');
    deps = {
      db: opened.db,
      onOutboxWrite: () => {},
      log: pino({ level: 'silent' }),
      queue: 'tasks.user-sync',
    };
  });
  afterEach(async () => {
    await opened?.close();
  });

  /** Holds a transaction open: `held` resolves once it holds, `release` lets it commit. */
  const gate = () => {
    let release!: () => void;
    let reached!: () => void;
    const held = new Promise<void>(resolve => (reached = resolve));
    const open = new Promise<void>(resolve => (release = resolve));
    return {
      held,
      release,
      hold: () => {
        reached();
        return open;
      },
    };
  };

  /** Resolves once some transaction waits for a lock another one holds. */
  const someoneWaits = async () =>
    waitFor(async () => {
      const [row] = await queryRows<{ n: number }>(
        opened.db,
        sql`select count(*) as n from pg_locks where not granted`,
      );
      return Number(row?.n) > 0;
    });

  it('a task created while its owner is being deleted is deleted with the rest', async () => {
    const { db } = opened;
    const owner = randomUUID();
    await applyUserEvent(deps, userEvent('user.created', owner, 'x', at(1)));
    const { hold, held, release } = gate();
    // What createTask does, held open before its commit.
    const creating = db.transaction(async tx => {
      await q.stubForShare(tx, owner);
      await q.insertTask(tx, { title: 'late', ownerId: owner });
      await hold();
    });
    await held;
    const deleting = applyUserEvent(deps, userDeleted(owner));
    await someoneWaits();
    release();
    await creating;
    await deleting;
    expect(await db.select().from(tasks)).toEqual([]);
    expect((await db.select().from(outbox)).map(row => row.type)).toEqual(['task.deleted']);
  });

  it('a task creation that waits on a deletion is refused', async () => {
    const { db } = opened;
    const owner = randomUUID();
    await applyUserEvent(deps, userEvent('user.created', owner, 'x', at(1)));
    const { hold, held, release } = gate();
    const deleting = db.transaction(async tx => {
      await q.tombstoneStub(tx, owner, at(30));
      await hold();
    });
    await held;
    const creating = createTask(
      { db, onOutboxWrite: () => {} },
      { id: owner, admin: false },
      { title: 'too late' },
    );
    // Attached at once: the refusal may come while the deletion is still being awaited.
    const refused = expect(creating).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
    await someoneWaits();
    release();
    await deleting;
    await refused;
    expect(await db.select().from(tasks)).toEqual([]);
  });
});
