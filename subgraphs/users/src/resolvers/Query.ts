import { z } from 'zod';
import { connection, decodeCursor, encodeCursor, pageSize } from '#lib/pagination.js';
import type { QueryResolvers } from '../__generated__/resolvers-types.js';
import { recentRevocations, requireAdmin, requireUser } from '../accounts.js';
import { listUsers } from '../db/queries.js';
import * as valid from '../validation.js';

const USERS_CURSOR = 'users';

export const Query: QueryResolvers = {
  me: (_parent, _args, { claims, loaders }) =>
    claims.userId ? loaders.user.load(claims.userId) : null,

  user: (_parent, { id }, { claims, loaders }) => {
    requireUser(claims);
    return loaders.user.load(id);
  },

  users: async (_parent, args, { claims, deps }) => {
    await requireAdmin(deps, claims);
    const first = pageSize(args.first);
    const after = decodeCursor(args.after, USERS_CURSOR, z.string().refine(valid.isUsername));
    const search = valid.search(args.search);
    const { rows, totalCount } = await listUsers(deps.db, {
      search,
      afterUsername: after,
      limit: first + 1,
    });
    return connection(rows, first, u => encodeCursor(USERS_CURSOR, u.username), totalCount);
  },

  // @inaccessible: only the router can ask, and it asks anonymously; nothing here is a secret
  // to it. Clients cannot name the field (it is not in the API schema).
  _revocations: (_parent, _args, { deps }) => recentRevocations(deps),
};
