import type { Database } from '#lib/db.js';
import type { LiveFeed } from '#lib/live.js';
import type { SubgraphContext } from '#lib/subgraph/descriptor.js';
import type { schema } from './db/schema.js';
import type { NotificationsLoaders } from './loaders.js';

/** What the notifications service is built from (its descriptor, subgraph.ts); tests build their own. */
export interface NotificationsDeps {
  db: Database<typeof schema>;
  /** Called after a transaction that wrote to the outbox commits, so the relay publishes now. */
  onOutboxWrite: () => void;
  /** This process's live `notification.created` fan-out, read by `Subscription.notificationReceived`. */
  live: LiveFeed;
}

export interface NotificationsContext extends SubgraphContext {
  deps: NotificationsDeps;
  loaders: NotificationsLoaders;
}
