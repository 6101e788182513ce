import { z } from 'zod';
import type { Claims } from '#lib/auth/claims.js';
import { forbidden, notFound, unauthenticated } from '#lib/errors.js';
import { connection, cursorValue, decodeCursor, encodeCursor, pageSize } from '#lib/pagination.js';
import type { NotificationsContext, NotificationsDeps } from './context.js';
import * as q from './db/queries.js';
import type { NotificationRow } from './db/schema.js';

const NOTIFICATIONS_CURSOR = 'notifications';
/** A cursor holds the last row's `[createdAt, id]`: the page order, newest first. */
const positionSchema = z.tuple([cursorValue.timestamp, cursorValue.id]);

const NOT_FOUND = 'No such notification';

/** The signed-in user's id, or UNAUTHENTICATED. */
export function requireUser(claims: Claims): string {
  if (!claims.userId) throw unauthenticated();
  return claims.userId;
}

/** The user themself may read their notifications, and so may an admin; nobody else. */
export function requireMayRead(claims: Claims, userId: string): void {
  const viewer = requireUser(claims);
  if (viewer !== userId && claims.role !== 'ADMIN')
    throw forbidden('Only the user themself may read their notifications');
}

/** Whether the viewer may see this notification as an entity (the router's references). */
export const mayRead = (claims: Claims, row: NotificationRow) =>
  claims.userId === row.userId || claims.role === 'ADMIN';

/** A page of `userId`'s notifications, newest first; access is the caller's to check. */
export async function notificationsOf(
  { loaders }: Pick<NotificationsContext, 'loaders'>,
  userId: string,
  args: { unreadOnly?: boolean | null; first?: number | null; after?: string | null },
) {
  const first = pageSize(args.first);
  const position = decodeCursor(args.after, NOTIFICATIONS_CURSOR, positionSchema);
  const unreadOnly = args.unreadOnly ?? false;
  const [rows, totalCount] = await Promise.all([
    loaders.page.load({
      userId,
      unreadOnly,
      after: position ? { createdAt: new Date(position[0]), id: position[1] } : null,
      limit: first + 1,
    }),
    (unreadOnly ? loaders.unreadCount : loaders.totalCount).load(userId),
  ]);
  return connection(
    rows,
    first,
    n => encodeCursor(NOTIFICATIONS_CURSOR, [n.createdAt.toISOString(), n.id]),
    totalCount,
  );
}

/** Marks one of the viewer's notifications read: anyone else's is NOT_FOUND, admins' included. */
export async function markNotificationRead(
  deps: NotificationsDeps,
  claims: Claims,
  id: string,
): Promise<NotificationRow> {
  const userId = requireUser(claims);
  const row = await q.markRead(deps.db, id, userId);
  if (!row) throw notFound(NOT_FOUND);
  return row;
}

export async function markAllNotificationsRead(
  deps: NotificationsDeps,
  claims: Claims,
): Promise<number> {
  return q.markAllRead(deps.db, requireUser(claims));
}
