import type { NotificationResolvers } from '../__generated__/resolvers-types.js';
import { mayRead } from '../notifications.js';

export const Notification: NotificationResolvers = {
  /** Someone else's notification does not exist as far as the viewer can tell. */
  __resolveReference: async (ref, { claims, loaders }) => {
    const row = await loaders.notification.load(ref.id);
    return row && mayRead(claims, row) ? row : null;
  },
  read: n => n.readAt !== null,
  /** A reference the tasks subgraph resolves; it answers null for a task the viewer may not see. */
  task: n => (n.taskId ? { id: n.taskId } : null),
  actor: n => (n.actorId ? { id: n.actorId } : null),
};
