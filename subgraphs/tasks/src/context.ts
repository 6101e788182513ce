import type { Database } from '#lib/db.js';
import type { LiveFeed } from '#lib/live.js';
import type { SubgraphContext } from '#lib/subgraph/descriptor.js';
import type { schema } from './db/schema.js';
import type { TasksLoaders } from './loaders.js';

/** What the tasks service is built from; its descriptor (subgraph.ts) builds them, tests build their own. */
export interface TasksDeps {
  db: Database<typeof schema>;
  /** Called after a transaction that wrote to the outbox commits, so the relay publishes now. */
  onOutboxWrite: () => void;
  /** This process's live `task.*` fan-out, read by `Subscription.taskChanged`. */
  live: LiveFeed;
}

export interface TasksContext extends SubgraphContext {
  deps: TasksDeps;
  loaders: TasksLoaders;
}
