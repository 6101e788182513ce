import { notFound } from '#lib/errors.js';
import type { SubscriptionResolvers } from '../__generated__/resolvers-types.js';
import type { NotificationsContext } from '../context.js';
import { notificationsByIds } from '../db/queries.js';
import { requireUser } from '../notifications.js';

export const Subscription: SubscriptionResolvers = {
  notificationReceived: {
    /** The subscriber's own notifications from this process's live fan-out; nobody else's. */
    subscribe: (_parent, _args, { claims, deps, resume }) => {
      const userId = requireUser(claims);
      return deps.live.iterate(
        ['notification.created'],
        event =>
          event.data.notification.userId === userId ? event.data.notification.id : undefined,
        resume,
      );
    },
    /** The stored notification, so it reads exactly as a query would show it. */
    resolve: async (id: string, _args: unknown, { deps }: NotificationsContext) => {
      const [row] = await notificationsByIds(deps.db, [id]);
      if (!row) throw notFound('The notification no longer exists');
      return row;
    },
  },
};
