import type { QueryResolvers } from '../__generated__/resolvers-types.js';
import { canSee, listRestriction, viewerOf } from '../access.js';
import { listTasks } from '../db/queries.js';
import { listOptions, parseListArgs, taskConnection } from '../listing.js';

export const Query: QueryResolvers = {
  task: async (_parent, { id }, ctx) => {
    const viewer = await viewerOf(ctx);
    const task = await ctx.loaders.task.load(id);
    return task && canSee(viewer, task) ? task : null;
  },

  tasks: async (_parent, args, ctx) => {
    const viewer = await viewerOf(ctx);
    const request = parseListArgs(args);
    const page = await listTasks(ctx.deps.db, listOptions(request, listRestriction(viewer)));
    return taskConnection(page, request);
  },
};
