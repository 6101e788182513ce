import type { UserResolvers } from '../__generated__/resolvers-types.js';
import { listRestriction, viewerOf } from '../access.js';
import type { TasksContext } from '../context.js';
import type { UserRelation } from '../db/queries.js';
import { parseListArgs, taskConnection, type TaskListArgs } from '../listing.js';
import type { UserRef } from '../models.js';

/** The user's owned or assigned tasks that the viewer may see, batched across users. */
async function tasksOf(
  relation: UserRelation,
  user: UserRef,
  args: TaskListArgs,
  ctx: TasksContext,
) {
  const viewer = await viewerOf(ctx);
  const request = parseListArgs(args);
  const page = await ctx.loaders.userTasks.load({
    relation,
    userId: user.id,
    visibleTo: listRestriction(viewer, user.id),
    request,
  });
  return taskConnection(page, request);
}

export const User: UserResolvers = {
  tasks: (user, args, ctx) => tasksOf('owner', user, args, ctx),
  assignedTasks: (user, args, ctx) => tasksOf('assignee', user, args, ctx),
};
