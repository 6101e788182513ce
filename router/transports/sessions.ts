import type { Viewer } from '../auth.js';
import { isRevoked, type RevocationView } from '../revocations.js';

/** Why a viewer's connection ends before its client ends it. */
export type SessionEnd = 'Session revoked' | 'Access token expired';

/**
 * The viewers of open connections (sockets, streams), so that each connection ends the moment
 * its token is revoked (as the revocation arrives) or expires. Every streaming transport
 * watches its connections here.
 */
export function sessionWatch(revocations: RevocationView) {
  type Watched = { viewer: Viewer; end: (reason: SessionEnd) => void };
  const byUser = new Map<string, Set<Watched>>();
  const unrevoked = revocations.onRevoked(revocation => {
    for (const watched of [...(byUser.get(revocation.userId) ?? [])]) {
      if (isRevoked(revocations, watched.viewer)) watched.end('Session revoked');
    }
  });
  return {
    /**
     * Calls `end` once when `viewer`'s token is revoked or expires; anonymous viewers never
     * end. Returns the release to call when the connection closes.
     */
    watch(viewer: Viewer, end: (reason: SessionEnd) => void): () => void {
      let ended = false;
      const once = (reason: SessionEnd) => {
        if (ended) return;
        ended = true;
        release();
        end(reason);
      };
      const watched: Watched = { viewer, end: once };
      const userId = viewer.claims.userId;
      if (userId) {
        const set = byUser.get(userId) ?? new Set<Watched>();
        set.add(watched);
        byUser.set(userId, set);
      }
      const expiry =
        viewer.expiresAt === null
          ? undefined
          : setTimeout(
              () => once('Access token expired'),
              Math.max(0, viewer.expiresAt - Date.now()),
            );
      function release() {
        clearTimeout(expiry);
        if (!userId) return;
        const set = byUser.get(userId);
        set?.delete(watched);
        if (set?.size === 0) byUser.delete(userId);
      }
      return () => {
        ended = true;
        release();
      };
    },
    close: () => unrevoked(),
  };
}
