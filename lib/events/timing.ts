/**
 * Resolves after `ms`, or as soon as `signal` aborts: shutdown must never wait out a
 * retry backoff.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Exponential backoff: `base`, `2·base`, `4·base`… capped at `max`. `attempt` starts at 1. */
export function backoffDelay(attempt: number, base: number, max: number): number {
  return Math.min(max, base * 2 ** Math.max(0, attempt - 1));
}

/** Runs a settle operation (ack/nack) that may fail because the channel is already gone. */
export function trySettle(settle: () => void): boolean {
  try {
    settle();
    return true;
  } catch {
    return false;
  }
}
