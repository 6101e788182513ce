import { describe, expect, it } from 'vitest';
import { createPasswords } from './passwords.js';

/** What each of `calls`, started at once, ended as: 'ok', or the error's code. */
const outcomes = (calls: Promise<unknown>[]) =>
  Promise.all(
    calls.map(call =>
      call.then(
        () => 'ok',
        (err: { extensions?: { code?: string; retryAfter?: number } }) =>
          `${err.extensions?.code} ${err.extensions?.retryAfter}`,
      ),
    ),
  );

describe('password hashing, bounded', () => {
  it('runs `concurrency` at once, queues `queue`, refuses the rest with RATE_LIMITED and retryAfter', async () => {
    const passwords = createPasswords({ concurrency: 1, queue: 2, maxWaitMs: 60_000 });
    const stored = await passwords.hash('a password');
    const calls = Array.from({ length: 5 }, () => passwords.verify('a password', stored));
    expect(passwords.load()).toEqual({ running: 1, waiting: 2 });
    expect(await outcomes(calls)).toEqual(['ok', 'ok', 'ok', 'RATE_LIMITED 1', 'RATE_LIMITED 1']);
    expect(passwords.load()).toEqual({ running: 0, waiting: 0 });
  });

  it('refuses a hash whose turn does not come within maxWaitMs', async () => {
    const passwords = createPasswords({ concurrency: 1, queue: 2, maxWaitMs: 1 });
    const stored = await passwords.hash('a password');
    const calls = [passwords.verify('a password', stored), passwords.verify('x', stored)];
    expect(await outcomes(calls)).toEqual(['ok', 'RATE_LIMITED 1']);
    expect(passwords.load()).toEqual({ running: 0, waiting: 0 });
  });

  it('lets checks against the decoy fill half the queue, and a real account go before them', async () => {
    const passwords = createPasswords({ concurrency: 1, queue: 4, maxWaitMs: 60_000 });
    const stored = await passwords.hash('a password');
    const order: string[] = [];
    const decoy = (i: number) =>
      passwords.verifyAgainstDecoy('x').then(() => order.push(`decoy ${i}`));
    const calls = [decoy(0), decoy(1), decoy(2), decoy(3)];
    calls.push(passwords.verify('a password', stored).then(() => order.push('real')));
    // decoy 0 runs, 1 and 2 wait (half of 4), 3 is refused; the real one waits ahead of them.
    expect(await outcomes(calls)).toEqual(['ok', 'ok', 'ok', 'RATE_LIMITED 1', 'ok']);
    expect(order).toEqual(['decoy 0', 'real', 'decoy 1', 'decoy 2']);
  });
});
