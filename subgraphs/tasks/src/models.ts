import type { TaskRow } from './db/schema.js';

/**
 * What `User` resolvers of this subgraph receive: a reference by id. The users subgraph
 * resolves everything else about the user through the router.
 */
export interface UserRef {
  id: string;
}

export const userRef = (id: string): UserRef => ({ id });

/** What `TaskEvent` resolvers receive: one live `task.*` event as one subscriber may see it. */
export interface TaskEventModel {
  kind: 'CREATED' | 'UPDATED' | 'DELETED';
  taskId: string;
  task: TaskRow | null;
  actorId: string | null;
  occurredAt: Date;
}
