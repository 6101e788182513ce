import DataLoader from 'dataloader';
import type { Executor } from '#lib/db.js';
import { loaderById } from '#lib/loaders.js';
import {
  notificationCounts,
  notificationPages,
  notificationsByIds,
  type NotificationPosition,
} from './db/queries.js';
import type { NotificationRow, schema } from './db/schema.js';

/** One user's page of notifications, as `User.notifications` and `Query.notifications` ask for it. */
export interface PageKey {
  userId: string;
  unreadOnly: boolean;
  after: NotificationPosition | null;
  /** Rows to fetch: the page size plus one, to know whether there is a next page. */
  limit: number;
}

const pageArgs = (key: PageKey) =>
  JSON.stringify([key.unreadOnly, key.after?.createdAt.toISOString(), key.after?.id, key.limit]);

const counts = (db: Executor<typeof schema>, unreadOnly: boolean) =>
  new DataLoader<string, number>(async userIds => {
    const byUser = await notificationCounts(db, userIds, { unreadOnly });
    return userIds.map(id => byUser.get(id) ?? 0);
  });

/**
 * Per-request loaders: a list of users asking for their notifications or unread counts costs
 * one SQL statement per kind of question, never one per user.
 */
export function createLoaders(db: Executor<typeof schema>) {
  return {
    notification: loaderById<NotificationRow>(ids => notificationsByIds(db, ids)),
    unreadCount: counts(db, true),
    totalCount: counts(db, false),
    page: new DataLoader<PageKey, NotificationRow[], string>(
      async keys => {
        // Users of one list field share the arguments: normally a single group, a single statement.
        const groups = new Map<string, PageKey[]>();
        for (const key of keys) {
          const group = groups.get(pageArgs(key));
          if (group) group.push(key);
          else groups.set(pageArgs(key), [key]);
        }
        const pages = new Map<string, NotificationRow[]>();
        await Promise.all(
          [...groups].map(async ([args, group]) => {
            const [first] = group as [PageKey];
            const byUser = await notificationPages(
              db,
              group.map(k => k.userId),
              { unreadOnly: first.unreadOnly, after: first.after, limit: first.limit },
            );
            for (const [userId, rows] of byUser) pages.set(`${args}${userId}`, rows);
          }),
        );
        return keys.map(key => pages.get(`${pageArgs(key)}${key.userId}`) ?? []);
      },
      { cacheKeyFn: key => `${pageArgs(key)}${key.userId}` },
    ),
  };
}
export type NotificationsLoaders = ReturnType<typeof createLoaders>;
