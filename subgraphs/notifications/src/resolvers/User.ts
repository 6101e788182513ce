import type { UserResolvers } from '../__generated__/resolvers-types.js';
import { notificationsOf, requireMayRead } from '../notifications.js';

/** The fields this subgraph contributes to `User`; the users subgraph owns the rest. */
export const User: UserResolvers = {
  __resolveReference: ref => ({ id: ref.id }),
  notifications: (user, args, ctx) => {
    requireMayRead(ctx.claims, user.id);
    return notificationsOf(ctx, user.id, args);
  },
  unreadNotificationCount: (user, _args, { claims, loaders }) => {
    requireMayRead(claims, user.id);
    return loaders.unreadCount.load(user.id);
  },
};
