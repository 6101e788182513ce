import type {
  SubscriptionResolvers,
  TaskEventResolvers,
} from '../__generated__/resolvers-types.js';
import { viewerOf } from '../access.js';
import { TASK_EVENT_TYPES, taskEventFor } from '../events.js';
import type { TaskEventModel } from '../models.js';
import { userRef } from '../models.js';

export const Subscription: SubscriptionResolvers = {
  taskChanged: {
    /** Reads this process's live fan-out, keeping what the subscriber may see. */
    subscribe: async (_parent, { filter }, ctx) => {
      const viewer = await viewerOf(ctx);
      const scope = {
        taskId: filter?.taskId ?? null,
        kinds: filter?.kinds ? new Set(filter.kinds) : null,
      };
      return ctx.deps.live.iterate(
        TASK_EVENT_TYPES,
        event => taskEventFor(viewer, event, scope),
        ctx.resume,
      );
    },
    resolve: (event: TaskEventModel) => event,
  },
};

export const TaskEvent: TaskEventResolvers = {
  actor: event => (event.actorId ? userRef(event.actorId) : null),
};
