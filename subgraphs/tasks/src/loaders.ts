import DataLoader from 'dataloader';
import type { Executor } from '#lib/db.js';
import { loaderById } from '#lib/loaders.js';
import {
  listTasksOfUsers,
  stubsByIds,
  tasksByIds,
  type TaskPage,
  type UserRelation,
} from './db/queries.js';
import type { schema, TaskRow, UserStubRow } from './db/schema.js';
import { listOptions, requestKey, type TaskListRequest } from './listing.js';

/** One page of a user's owned or assigned tasks, as one viewer may see it. */
export interface UserTasksKey {
  relation: UserRelation;
  userId: string;
  /** See `listRestriction` in access.ts. */
  visibleTo: string | null;
  request: TaskListRequest;
}

const groupKey = (key: UserTasksKey) =>
  JSON.stringify([key.relation, key.visibleTo, requestKey(key.request)]);

/**
 * Per-request loaders: every batch of task or stub look-ups is one SQL statement, and the
 * same page of `User.tasks` / `User.assignedTasks` for many users is two (rows and counts).
 */
export function createLoaders(db: Executor<typeof schema>) {
  return {
    /** Tasks by id, whoever may see them: callers apply access.ts. */
    task: loaderById<TaskRow>(ids => tasksByIds(db, ids)),
    stub: loaderById<UserStubRow>(ids => stubsByIds(db, ids)),
    userTasks: new DataLoader<UserTasksKey, TaskPage, string>(
      async keys => {
        const groups = new Map<string, UserTasksKey[]>();
        for (const key of keys) {
          const group = groups.get(groupKey(key));
          if (group) group.push(key);
          else groups.set(groupKey(key), [key]);
        }
        const pages = new Map<string, Map<string, TaskPage>>();
        await Promise.all(
          [...groups].map(async ([group, members]) => {
            const first = members[0]!;
            const userIds = [...new Set(members.map(m => m.userId))];
            pages.set(
              group,
              await listTasksOfUsers(
                db,
                first.relation,
                userIds,
                listOptions(first.request, first.visibleTo),
              ),
            );
          }),
        );
        return keys.map(
          key => pages.get(groupKey(key))?.get(key.userId) ?? { rows: [], totalCount: 0 },
        );
      },
      { cacheKeyFn: key => JSON.stringify([groupKey(key), key.userId]) },
    ),
  };
}
export type TasksLoaders = ReturnType<typeof createLoaders>;
