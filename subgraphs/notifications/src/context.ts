import type { Database } from '#lib/db.js';
import type { LiveFeed } from '#lib/live.js';
import type { SubgraphContext } from '#lib/subgraph.js';
import type { schema } from './db/schema.js';
import type { NotificationsLoaders } from './loaders.js';

/** What the notifications service is built from; `start.ts` opens them, tests build their own. */
export interface NotificationsDeps {
  db: Database<typeof schema>;
  /** This process's live `notification.created` fan-out, read by `Subscription.notificationReceived`. */
  live: LiveFeed;
}

export interface NotificationsContext extends SubgraphContext {
  deps: NotificationsDeps;
  loaders: NotificationsLoaders;
}
