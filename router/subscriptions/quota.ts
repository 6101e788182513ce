import type { GraphQLError } from 'graphql';
import { error, ErrorCode } from '#lib/errors.js';

/** Subscriptions one holder (a socket, a stream) has open. */
export interface Holder {
  open: number;
}

/**
 * How many subscriptions may be open at once: per socket (MAX_SUBSCRIPTIONS_PER_CONNECTION)
 * and per viewer across all their sockets and streams (MAX_SUBSCRIPTIONS_PER_VIEWER). Each one
 * costs an upstream subscription unless identical to one the viewer already has, so this is
 * also what bounds one viewer's load on the subgraphs.
 */
export interface SubscriptionQuota {
  /**
   * One more subscription for `viewer` on `holder`: a release to call when it ends, or the
   * refusal (TOO_MANY_SUBSCRIPTIONS, naming the limit) while either count is full.
   */
  take(viewer: string, holder: Holder): (() => void) | GraphQLError;
  /** Open subscriptions of `viewer` (tests). */
  openOf(viewer: string): number;
}

export function subscriptionQuota(limits: {
  perConnection: number;
  perViewer: number;
}): SubscriptionQuota {
  const byViewer = new Map<string, number>();
  return {
    take(viewer, holder) {
      const viewerOpen = byViewer.get(viewer) ?? 0;
      if (holder.open >= limits.perConnection) {
        return error(
          ErrorCode.TOO_MANY_SUBSCRIPTIONS,
          `At most ${limits.perConnection} subscriptions may be open on one connection`,
          { limit: limits.perConnection, scope: 'connection' },
        );
      }
      if (viewerOpen >= limits.perViewer) {
        return error(
          ErrorCode.TOO_MANY_SUBSCRIPTIONS,
          `At most ${limits.perViewer} subscriptions may be open at once for one user`,
          { limit: limits.perViewer, scope: 'viewer' },
        );
      }
      holder.open += 1;
      byViewer.set(viewer, viewerOpen + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        holder.open -= 1;
        const left = (byViewer.get(viewer) ?? 1) - 1;
        if (left > 0) byViewer.set(viewer, left);
        else byViewer.delete(viewer);
      };
    },
    openOf: viewer => byViewer.get(viewer) ?? 0,
  };
}
