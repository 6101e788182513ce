import { parse, print } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { ANONYMOUS } from '#lib/auth/claims.js';
import { planFetch, routerContext } from './__fixtures__/operations.js';
import {
  batchEntityFetches,
  entityFetchOf,
  mergeEntityFetches,
  splitEntityResponse,
} from './batching.js';
import type { RouterContext } from './context.js';

const OWNERS =
  'query Q__users__1($representations:[_Any!]!){_entities(representations:$representations){...on User{displayName}}}';
const ASSIGNEES =
  'query Q__users__2($representations:[_Any!]!){_entities(representations:$representations){...on User{displayName username}}}';

describe('entity batching', () => {
  it('takes only plain entity fetches', () => {
    expect(entityFetchOf(OWNERS)).not.toBeNull();
    expect(entityFetchOf('query { tasks(first: 1) { edges { node { id } } } }')).toBeNull();
    expect(
      entityFetchOf('mutation ($r: [_Any!]!) { _entities(representations: $r) { __typename } }'),
    ).toBeNull();
    expect(
      entityFetchOf('query ($r: [_Any!]!) { e: _entities(representations: $r) { __typename } }'),
    ).toBeNull();
    expect(
      entityFetchOf(
        'query ($r: [_Any!]!) { _entities(representations: $r) { ...F } } fragment F on User { id }',
      ),
    ).toBeNull();
    expect(entityFetchOf('not graphql')).toBeNull();
  });

  it('merges fetches into one operation with their own variables and aliases', () => {
    const a = {
      query: OWNERS,
      fetch: entityFetchOf(OWNERS)!,
      variables: { representations: [{ __typename: 'User', id: '1' }] },
    };
    const b = {
      query: ASSIGNEES,
      fetch: entityFetchOf(ASSIGNEES)!,
      variables: { representations: [{ __typename: 'User', id: '2' }] },
    };
    const merged = mergeEntityFetches([a, b]);
    expect(merged.operationName).toBe('Q__users__1__batch');
    expect(merged.variables).toEqual({
      representations_0: a.variables.representations,
      representations_1: b.variables.representations,
    });
    const [op] = parse(merged.query).definitions;
    expect(op).toMatchObject({
      kind: 'OperationDefinition',
      operation: 'query',
      name: { value: 'Q__users__1__batch' },
    });
    expect(merged.query).toContain('_0_entities: _entities(representations: $representations_0)');
    expect(merged.query).toContain('_1_entities: _entities(representations: $representations_1)');
    expect(merged.query).toMatch(/displayName\s+username/);
  });

  it('gives each fetch its own part of the answer, errors included', () => {
    const response = {
      data: { _0_entities: [{ displayName: 'A' }], _1_entities: null },
      errors: [
        { message: 'boom', path: ['_1_entities', 0, 'username'] },
        { message: 'everyone', extensions: { code: 'X' } },
      ],
      http: { status: 200 },
    };
    expect(splitEntityResponse(response, 0)).toEqual({
      data: { _entities: [{ displayName: 'A' }] },
      errors: [{ message: 'everyone', extensions: { code: 'X' } }],
      http: { status: 200 },
    });
    expect(splitEntityResponse(response, 1)).toEqual({
      data: { _entities: null },
      errors: [
        { message: 'boom', path: ['_entities', 0, 'username'] },
        { message: 'everyone', extensions: { code: 'X' } },
      ],
      http: { status: 200 },
    });
    expect(splitEntityResponse({ data: null }, 0)).toEqual({ data: null });
  });
});

/** A data source that records what it is asked and answers every `_<i>_entities` alias. */
function recordingSource(fail = false) {
  const calls: Array<GraphQLDataSourceProcessOptions<RouterContext>> = [];
  const source: GraphQLDataSource<RouterContext> = {
    process: async options => {
      calls.push(options);
      if (fail) throw new Error('subgraph down');
      const aliases = [...(options.request.query ?? '').matchAll(/(_\d+_entities):/g)];
      return aliases.length > 0
        ? { data: Object.fromEntries(aliases.map(([, alias]) => [alias, [{ alias }]])) }
        : { data: { alone: options.request.query } };
    },
  };
  return { source, calls };
}

describe('batchEntityFetches', () => {
  const owners = { representations: [{ __typename: 'User', id: '1' }] };
  const assignees = { representations: [{ __typename: 'User', id: '2' }] };

  it('sends the entity fetches of one request issued together as one operation, each answered its part', async () => {
    const { source, calls } = recordingSource();
    const users = batchEntityFetches(source);
    const context = routerContext(ANONYMOUS);
    const [a, b] = await Promise.all([
      users.process(planFetch(OWNERS, context, { variables: owners })),
      users.process(planFetch(ASSIGNEES, context, { variables: assignees })),
    ]);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call?.request.variables).toEqual({
      representations_0: owners.representations,
      representations_1: assignees.representations,
    });
    // The merged operation travels with its own document, so no one parses it again.
    expect(call && 'document' in call && call.document && print(call.document)).toBe(
      call?.request.query,
    );
    expect(a).toEqual({ data: { _entities: [{ alias: '_0_entities' }] } });
    expect(b).toEqual({ data: { _entities: [{ alias: '_1_entities' }] } });
  });

  it('never merges fetches of two requests, nor anything but entity fetches', async () => {
    const { source, calls } = recordingSource();
    const users = batchEntityFetches(source);
    const tasks = 'query T__tasks__0 { tasks { id } }';
    const results = await Promise.all([
      users.process(planFetch(OWNERS, routerContext(ANONYMOUS, 'a'), { variables: owners })),
      users.process(planFetch(OWNERS, routerContext(ANONYMOUS, 'b'), { variables: owners })),
      users.process(planFetch(tasks, routerContext(ANONYMOUS, 'a'))),
    ]);
    expect(calls.map(c => c.request.query)).toEqual([tasks, OWNERS, OWNERS]);
    expect(results[0]).toEqual({ data: { alone: OWNERS } });
  });

  it('fails every fetch of a merged operation that failed', async () => {
    const { source } = recordingSource(true);
    const users = batchEntityFetches(source);
    const context = routerContext(ANONYMOUS);
    const results = await Promise.allSettled([
      users.process(planFetch(OWNERS, context, { variables: owners })),
      users.process(planFetch(ASSIGNEES, context, { variables: assignees })),
    ]);
    expect(results.map(r => r.status)).toEqual(['rejected', 'rejected']);
  });
});
