import DataLoader from 'dataloader';
import type { Executor } from '#lib/db.js';
import { usersByIds } from './db/queries.js';
import type { schema, UserRow } from './db/schema.js';

/** Per-request loaders: every batch of user look-ups is one SQL statement. */
export function createLoaders(db: Executor<typeof schema>) {
  return {
    user: new DataLoader<string, UserRow | null>(async (ids) => {
      const rows = await usersByIds(db, ids);
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
export type UsersLoaders = ReturnType<typeof createLoaders>;
