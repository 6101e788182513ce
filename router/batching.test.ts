import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { entityFetchOf, mergeEntityFetches, splitEntityResponse } from './batching.js';

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
