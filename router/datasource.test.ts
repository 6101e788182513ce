import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyClaims, type Claims } from '#lib/auth/claims.js';
import { subgraphFetchDuration, subgraphFetchErrors } from '#lib/metrics.js';
import { planFetch, routerContext } from './__fixtures__/operations.js';
import { startSubgraphStandIn } from './__fixtures__/subgraph.js';
import { createSubgraphDataSource } from './datasource.js';
import { createSubgraphFetcher } from './fetcher.js';

const SECRET = 'r'.repeat(40);
const alice: Claims = {
  userId: '6f1c2b8e-1d3a-4a55-9a5e-0d6f6a1b2c3d',
  role: 'USER',
  username: 'alice',
  sessionId: '0b9d8c7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e',
  clientAddress: '192.0.2.7',
};

let subgraph: Awaited<ReturnType<typeof startSubgraphStandIn>>;
const fetcher = createSubgraphFetcher({ timeoutMs: 5_000 });
beforeAll(async () => {
  subgraph = await startSubgraphStandIn();
});
afterAll(async () => {
  fetcher.close();
  await subgraph.close();
});

const source = (name = 'users', url = subgraph.url) =>
  createSubgraphDataSource({ name, url, secret: SECRET, fetcher });

/** Fetches timed and fetches failed so far for `subgraph`. */
async function fetchMetrics(subgraph: string) {
  const timed = (await subgraphFetchDuration.get()).values.find(
    v =>
      v.labels.subgraph === subgraph &&
      v.metricName === 'router_subgraph_fetch_duration_seconds_count',
  );
  const failed = (await subgraphFetchErrors.get()).values.find(v => v.labels.subgraph === subgraph);
  return { timed: timed?.value ?? 0, failed: failed?.value ?? 0 };
}

describe('subgraph data source', () => {
  it('lets identical in-flight queries of one viewer share a request, never two mutations', async () => {
    const users = source();
    const context = routerContext(alice);
    subgraph.seen.length = 0;
    const queries = await Promise.all([
      users.process(planFetch('query Q__users__0 { me { id } }', context)),
      users.process(planFetch('query Q__users__0 { me { id } }', context)),
      users.process(planFetch('{ me { id } }', context)),
      users.process(planFetch('{ me { id } }', context)),
    ]);
    expect(subgraph.seen).toHaveLength(2);
    const [q1, q2, shorthand1, shorthand2] = queries.map(q => q.data);
    expect(q1).toEqual(q2);
    expect(shorthand1).toEqual(shorthand2);
    expect(q1).not.toEqual(shorthand1);

    subgraph.seen.length = 0;
    const mutation = 'mutation M__users__0 { logout }';
    await Promise.all([
      users.process(planFetch(mutation, context)),
      users.process(planFetch(mutation, context)),
      // The plan's document, when it carries one, is what decides.
      users.process(planFetch(mutation, context, { document: parse(mutation) })),
    ]);
    expect(subgraph.seen).toHaveLength(3);
  });

  it('never lets two viewers share a request', async () => {
    const users = source();
    subgraph.seen.length = 0;
    await Promise.all([
      users.process(planFetch('{ me { id } }', routerContext(alice))),
      users.process(
        planFetch('{ me { id } }', routerContext({ ...alice, userId: 'other', username: 'bob' })),
      ),
    ]);
    expect(subgraph.seen).toHaveLength(2);
  });

  it('signs the viewer’s claims, drops client-sent forwarded headers and passes the request id', async () => {
    const users = source();
    subgraph.seen.length = 0;
    const fetch = planFetch('{ me { id } }', routerContext(alice, 'req-42'));
    fetch.request.http = {
      method: 'POST',
      url: subgraph.url,
      headers: new Headers({ 'x-user-role': 'ADMIN', 'x-user-id': 'forged' }),
    };
    await users.process(fetch);
    const [seen] = subgraph.seen;
    const signed = { audience: 'users', body: seen!.body };
    expect(verifyClaims(seen!.headers, SECRET, signed)?.claims).toEqual(alice);
    // Bound to this subgraph and this body: worthless anywhere else.
    expect(verifyClaims(seen!.headers, SECRET, { ...signed, audience: 'tasks' })).toBeNull();
    expect(verifyClaims(seen!.headers, SECRET, { ...signed, body: '{}' })).toBeNull();
    expect(seen!.headers['x-user-role']).toBe('USER');
    expect(seen!.headers['x-request-id']).toBe('req-42');
  });

  it('times every fetch and counts the failed ones, per subgraph', async () => {
    const before = await fetchMetrics('tasks');
    await source('tasks').process(planFetch('{ a }', routerContext(alice)));
    const unanswered = await source('tasks', 'http://127.0.0.1:1/graphql').process(
      planFetch('{ b c: d }', routerContext(alice)),
    );
    // No answer: the error on each field asked for (the subgraph is named in the log's cause,
    // not in what the client gets).
    expect(unanswered.data).toBeUndefined();
    expect(unanswered.errors).toEqual(
      ['b', 'c'].map(field => ({
        message: expect.not.stringMatching(/127\.0\.0\.1|tasks|fetch/),
        path: [field],
        extensions: { code: 'SERVICE_UNAVAILABLE', retryAfter: 1 },
      })),
    );
    expect(await fetchMetrics('tasks')).toEqual({
      timed: before.timed + 2,
      failed: before.failed + 1,
    });
  });

  it('puts an unanswered entity fetch’s error on each entity it was for', async () => {
    const query =
      'query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { username } } }';
    const answer = await source('users', 'http://127.0.0.1:1/graphql').process(
      planFetch(query, routerContext(alice), {
        variables: {
          representations: [
            { __typename: 'User', id: 'a' },
            { __typename: 'User', id: 'b' },
          ],
        },
      }),
    );
    expect(answer.errors?.map(e => e.path)).toEqual([
      ['_entities', 0],
      ['_entities', 1],
    ]);
    expect(answer.errors?.every(e => e.extensions?.code === 'SERVICE_UNAVAILABLE')).toBe(true);
  });
});
