import type { UserResolvers } from '../__generated__/resolvers-types.js';

export const User: UserResolvers = {
  __resolveReference: (ref, { loaders }) => loaders.user.load(ref.id),
  /** Only the user themself and admins see an email address. */
  email: (user, _args, { claims }) =>
    user.authenticatedSelf || claims.userId === user.id || claims.role === 'ADMIN'
      ? user.email
      : null,
};
