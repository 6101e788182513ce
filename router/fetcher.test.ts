import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSubgraphStandIn } from './__fixtures__/subgraph.js';
import { newBudget } from './budget.js';
import { createSubgraphFetcher } from './fetcher.js';

let subgraph: Awaited<ReturnType<typeof startSubgraphStandIn>>;
beforeAll(async () => {
  subgraph = await startSubgraphStandIn();
});
afterAll(() => subgraph.close());

const request = (text: string, userId: string) => ({
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'x-user-id': userId,
    'x-user-role': 'USER',
    'x-user-name': userId,
    'x-router-timestamp': String(Math.random()),
  },
  body: JSON.stringify({ query: text }),
});
const shared = { shareInFlight: true };
const alone = { shareInFlight: false };
const viewersSeen = () => subgraph.seen.map(r => `${String(r.headers['x-user-id'])} ${r.body}`);

describe('subgraph fetcher', () => {
  it('answers like fetch: status, headers, a body parsed anew for every caller', async () => {
    const fetcher = createSubgraphFetcher({ timeoutMs: 5_000 });
    subgraph.seen.length = 0;
    const [a, b] = await Promise.all([
      fetcher.fetch(subgraph.url, request('query A { x }', 'u1'), shared),
      fetcher.fetch(subgraph.url, request('query A { x }', 'u1'), shared),
    ]);
    expect(a.ok).toBe(true);
    expect(a.headers.get('Content-Type')).toBe('application/json');
    const [ja, jb] = [await a.json(), await b.json()];
    expect(ja).toEqual(jb);
    expect(ja).not.toBe(jb);
    expect(subgraph.seen).toHaveLength(1); // one request for both
    fetcher.close();
  });

  it('shares only identical shareable requests of one viewer in flight; never other viewers or requests sent alone', async () => {
    const fetcher = createSubgraphFetcher({ timeoutMs: 5_000 });
    subgraph.seen.length = 0;
    await Promise.all([
      fetcher.fetch(subgraph.url, request('query A { x }', 'u1'), shared),
      fetcher.fetch(subgraph.url, request('query A { x }', 'u2'), shared),
      fetcher.fetch(subgraph.url, request('query B { x }', 'u1'), shared),
      fetcher.fetch(subgraph.url, request('mutation M { x }', 'u1'), alone),
      fetcher.fetch(subgraph.url, request('mutation M { x }', 'u1'), alone),
    ]);
    expect(subgraph.seen).toHaveLength(5);
    expect(viewersSeen().filter(r => r.startsWith('u1') && r.includes('mutation M'))).toHaveLength(
      2,
    );
    // Once answered, the same query is asked again.
    subgraph.seen.length = 0;
    await fetcher.fetch(subgraph.url, request('query A { x }', 'u1'), shared);
    await fetcher.fetch(subgraph.url, request('query A { x }', 'u1'), shared);
    expect(subgraph.seen).toHaveLength(2);
    fetcher.close();
  });

  it('fails like fetch: "fetch failed" on a timeout or a refused connection, with the reason as cause', async () => {
    const fetcher = createSubgraphFetcher({ timeoutMs: 10 });
    subgraph.setDelay(200);
    await expect(
      fetcher.fetch(subgraph.url, request('query A { x }', 'u1'), shared),
    ).rejects.toMatchObject({
      message: 'fetch failed',
      cause: { name: 'TimeoutError' },
    });
    subgraph.setDelay(50);
    await expect(
      fetcher.fetch('http://127.0.0.1:1/graphql', request('query A { x }', 'u1'), shared),
    ).rejects.toMatchObject({ message: 'fetch failed', cause: { code: 'ECONNREFUSED' } });
    fetcher.close();
  });

  it("counts what it reads against the operation's budget and stops at the byte that exceeds it", async () => {
    const fetcher = createSubgraphFetcher({ timeoutMs: 5_000 });
    subgraph.setDelay(0);
    // Each answer is `{"data":{"n":<k>}}`: 16 to 18 bytes, so the third goes past 40.
    const budget = newBudget(40);
    await fetcher.fetch(subgraph.url, request('query A { x }', 'u1'), { ...alone, budget });
    await fetcher.fetch(subgraph.url, request('query A { x }', 'u1'), { ...alone, budget });
    expect(budget.used).toBeGreaterThanOrEqual(32);
    await expect(
      fetcher.fetch(subgraph.url, request('query A { x }', 'u1'), { ...alone, budget }),
    ).rejects.toMatchObject({ extensions: { code: 'RESPONSE_TOO_LARGE', limit: 40 } });
    // Another operation has a budget of its own.
    const other = newBudget(40);
    await fetcher.fetch(subgraph.url, request('query A { x }', 'u1'), { ...alone, budget: other });
    expect(other.used).toBeLessThan(20);
    subgraph.setDelay(50);
    fetcher.close();
  });
});
