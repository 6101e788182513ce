import type { Executor } from '#lib/db.js';
import { loaderById } from '#lib/loaders.js';
import { usersByIds } from './db/queries.js';
import type { schema, UserRow } from './db/schema.js';

/** Per-request loaders: every batch of user look-ups is one SQL statement. */
export function createLoaders(db: Executor<typeof schema>) {
  return {
    user: loaderById<UserRow>(ids => usersByIds(db, ids)),
  };
}
export type UsersLoaders = ReturnType<typeof createLoaders>;
