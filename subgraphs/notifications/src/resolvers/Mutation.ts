import type { MutationResolvers } from '../__generated__/resolvers-types.js';
import { markAllNotificationsRead, markNotificationRead } from '../notifications.js';

export const Mutation: MutationResolvers = {
  markNotificationRead: (_parent, { id }, { deps, claims }) =>
    markNotificationRead(deps, claims, id),
  markAllNotificationsRead: (_parent, _args, { deps, claims }) =>
    markAllNotificationsRead(deps, claims),
};
