import {
  and,
  asc,
  count,
  eq,
  getTableColumns,
  inArray,
  isNull,
  lt,
  lte,
  or,
  sql,
} from 'drizzle-orm';
import { isUuid, type Executor } from '#lib/db.js';
import {
  notifications,
  userStubs,
  type NewNotification,
  type NotificationRow,
  type schema,
  type UserStubRow,
} from './schema.js';

type Db = Executor<typeof schema>;

/** A place in a user's notifications, newest first: the last row of the previous page. */
export interface NotificationPosition {
  createdAt: Date;
  id: string;
}

export async function notificationsByIds(
  db: Db,
  ids: readonly string[],
): Promise<NotificationRow[]> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return [];
  return db.select().from(notifications).where(inArray(notifications.id, valid));
}

/**
 * One page of notifications for each of `userIds`, newest first, `limit` rows at most per
 * user, in one statement however many users there are.
 */
export async function notificationPages(
  db: Db,
  userIds: readonly string[],
  options: { unreadOnly: boolean; after: NotificationPosition | null; limit: number },
): Promise<Map<string, NotificationRow[]>> {
  const pages = new Map<string, NotificationRow[]>(userIds.map(id => [id, []]));
  const valid = userIds.filter(isUuid);
  if (valid.length === 0 || options.limit === 0) return pages;
  const { after } = options;
  const ranked = db
    .select({
      ...getTableColumns(notifications),
      rank: sql<number>`row_number() over (partition by ${notifications.userId} order by ${notifications.createdAt} desc, ${notifications.id} desc)`.as(
        'rank',
      ),
    })
    .from(notifications)
    .where(
      and(
        inArray(notifications.userId, valid),
        options.unreadOnly ? isNull(notifications.readAt) : undefined,
        after
          ? or(
              lt(notifications.createdAt, after.createdAt),
              and(eq(notifications.createdAt, after.createdAt), lt(notifications.id, after.id)),
            )
          : undefined,
      ),
    )
    .as('ranked');
  const rows = await db
    .select()
    .from(ranked)
    .where(lte(ranked.rank, options.limit))
    .orderBy(asc(ranked.userId), asc(ranked.rank));
  for (const { rank: _rank, ...row } of rows) pages.get(row.userId)?.push(row);
  return pages;
}

/** How many notifications (unread ones only, with `unreadOnly`) each user has; absent means 0. */
export async function notificationCounts(
  db: Db,
  userIds: readonly string[],
  options: { unreadOnly: boolean },
): Promise<Map<string, number>> {
  const valid = userIds.filter(isUuid);
  if (valid.length === 0) return new Map();
  const rows = await db
    .select({ userId: notifications.userId, n: count() })
    .from(notifications)
    .where(
      and(
        inArray(notifications.userId, valid),
        options.unreadOnly ? isNull(notifications.readAt) : undefined,
      ),
    )
    .groupBy(notifications.userId);
  return new Map(rows.map(r => [r.userId, r.n]));
}

/** Marks the notification read if it is `userId`'s; undefined when it is not (or does not exist). */
export async function markRead(
  db: Db,
  id: string,
  userId: string,
): Promise<NotificationRow | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await db
    .update(notifications)
    .set({ readAt: sql`coalesce(${notifications.readAt}, now())` })
    .where(and(eq(notifications.id, id), eq(notifications.userId, userId)))
    .returning();
  return row;
}

/** Marks every unread notification of `userId` read; returns how many. */
export async function markAllRead(db: Db, userId: string): Promise<number> {
  const rows = await db
    .update(notifications)
    .set({ readAt: sql`now()` })
    .where(and(eq(notifications.userId, userId), isNull(notifications.readAt)))
    .returning({ id: notifications.id });
  return rows.length;
}

/** Inserts notifications, skipping any (event, recipient) pair already written; returns the new rows. */
export async function insertNotifications(
  db: Db,
  rows: readonly NewNotification[],
): Promise<NotificationRow[]> {
  if (rows.length === 0) return [];
  return db
    .insert(notifications)
    .values([...rows])
    .onConflictDoNothing({ target: [notifications.eventId, notifications.userId] })
    .returning();
}

/** The task is gone: notifications about it no longer point at it. */
export async function detachTask(db: Db, taskId: string): Promise<void> {
  await db.update(notifications).set({ taskId: null }).where(eq(notifications.taskId, taskId));
}

export async function deleteNotificationsOf(db: Db, userId: string): Promise<number> {
  const rows = await db
    .delete(notifications)
    .where(eq(notifications.userId, userId))
    .returning({ id: notifications.id });
  return rows.length;
}

export async function stubsByIds(db: Db, ids: readonly string[]): Promise<UserStubRow[]> {
  const valid = [...new Set(ids.filter(isUuid))];
  if (valid.length === 0) return [];
  return db.select().from(userStubs).where(inArray(userStubs.id, valid));
}

/** Creates or refreshes a user's stub; a tombstoned user stays deleted. */
export async function upsertStub(
  db: Db,
  user: { id: string; username: string; displayName: string },
): Promise<void> {
  await db
    .insert(userStubs)
    .values(user)
    .onConflictDoUpdate({
      target: userStubs.id,
      set: { username: user.username, displayName: user.displayName, updatedAt: sql`now()` },
      setWhere: isNull(userStubs.deletedAt),
    });
}

/** Leaves a tombstone without the user's names, whether or not the user was known. */
export async function tombstoneStub(db: Db, id: string): Promise<void> {
  const gone = { username: '', displayName: '', deletedAt: sql`now()`, updatedAt: sql`now()` };
  await db
    .insert(userStubs)
    .values({ id, ...gone })
    .onConflictDoUpdate({ target: userStubs.id, set: gone });
}
