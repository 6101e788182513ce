import type { MutationResolvers } from '../__generated__/resolvers-types.js';
import { viewerOf } from '../access.js';
import * as tasks from '../tasks.js';

export const Mutation: MutationResolvers = {
  createTask: async (_parent, { input }, ctx) =>
    tasks.createTask(ctx.deps, await viewerOf(ctx), input),
  updateTask: async (_parent, { id, input }, ctx) =>
    tasks.updateTask(ctx.deps, await viewerOf(ctx), id, input),
  deleteTask: async (_parent, { id }, ctx) => tasks.deleteTask(ctx.deps, await viewerOf(ctx), id),
  assignTask: async (_parent, { id, assigneeId }, ctx) =>
    tasks.assignTask(ctx.deps, await viewerOf(ctx), id, assigneeId),
};
