import type { QueryResolvers } from '../__generated__/resolvers-types.js';
import { notificationsOf, requireUser } from '../notifications.js';

export const Query: QueryResolvers = {
  notifications: (_parent, args, ctx) => notificationsOf(ctx, requireUser(ctx.claims), args),
  unreadNotificationCount: (_parent, _args, { claims, loaders }) =>
    loaders.unreadCount.load(requireUser(claims)),
};
