import type { TaskResolvers } from '../__generated__/resolvers-types.js';
import { canSee, viewerOf } from '../access.js';
import { userRef } from '../models.js';

export const Task: TaskResolvers = {
  /** A task the viewer may not see resolves to null, as one that does not exist. */
  __resolveReference: async (ref, ctx) => {
    const viewer = await viewerOf(ctx);
    const task = await ctx.loaders.task.load(ref.id);
    return task && canSee(viewer, task) ? task : null;
  },
  // References only: the users subgraph resolves the rest through the router.
  owner: task => userRef(task.ownerId),
  assignee: task => (task.assigneeId ? userRef(task.assigneeId) : null),
};
