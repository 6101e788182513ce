import { maybeCacheControlFromInfo } from '@apollo/cache-control-types';
import type { Claims } from '#lib/auth/claims.js';
import type { NotificationKind, UserResolvers } from '../__generated__/resolvers-types.js';
import type { UserModel } from '../models.js';

const ownOrAdmin = (user: UserModel, claims: Claims) =>
  user.authenticatedSelf === true || claims.userId === user.id || claims.role === 'ADMIN';

export const User: UserResolvers = {
  /**
   * The router's entity fetch of a user by id reads the same row for every viewer, for a
   * second; each field it selects then narrows that with its own hint (schema.graphql), so
   * the answer is PUBLIC only when every field is. Without this the fetch (a root field
   * without a hint) would answer max-age 0 whatever it selects, and nothing would be shared.
   */
  __resolveReference: (ref, { loaders }, info) => {
    maybeCacheControlFromInfo(info)?.cacheHint.restrict({ maxAge: 1 });
    return loaders.user.load(ref.id);
  },
  /** Only the user themself and admins see an email address. */
  email: (user, _args, { claims }) => (ownOrAdmin(user, claims) ? user.email : null),
  emailVerified: (user, _args, { claims }) =>
    ownOrAdmin(user, claims) ? user.emailVerified : null,
  notificationSettings: (user, _args, { claims }) =>
    ownOrAdmin(user, claims)
      ? { emailKinds: user.notificationEmailKinds as NotificationKind[] }
      : null,
};
