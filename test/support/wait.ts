/**
 * Polls `check` until it returns something other than `false`/`undefined` (or stops
 * throwing), and returns that value. Fails after `timeoutMs` with the last error, so a test
 * waits for an outcome instead of sleeping a fixed time.
 */
export async function waitFor<T>(
  check: () => T,
  options: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<Exclude<Awaited<T>, false | undefined>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== false && value !== undefined)
        return value as Exclude<Awaited<T>, false | undefined>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`${options.message ?? 'condition not met'} within ${timeoutMs} ms${reason}`, {
        cause: lastError,
      });
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs));
  }
}
