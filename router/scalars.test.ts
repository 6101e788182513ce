import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { Supergraph } from '@apollo/federation-internals';
import { SUPERGRAPH_PATH } from '../schema/paths.js';
import { checkScalars, uncheckedScalars } from './scalars.js';

const api = Supergraph.build(readFileSync(SUPERGRAPH_PATH, 'utf8')).apiSchema().toGraphQLJSSchema();

/** What `checkScalars` makes of `query` with `variables`: the error's field and message, or null. */
function refusal(query: string, variables: Record<string, unknown> = {}) {
  try {
    checkScalars(api, parse(query), variables);
    return null;
  } catch (err) {
    const { message, extensions } = err as { message: string; extensions: Record<string, unknown> };
    return { message, ...extensions };
  }
}

describe('checkScalars', () => {
  it('has a rule for every scalar the API declares', () => {
    expect(uncheckedScalars(api)).toEqual([]);
  });

  it.each([20240101, '2024-02-30', '0000-01-01', '', true, { y: 2024 }, ['2024-01-01']])(
    'refuses dueDate %j as a variable, naming the field',
    value => {
      expect(
        refusal('mutation ($i: CreateTaskInput!) { createTask(input: $i) { id } }', {
          i: { title: 't', dueDate: value },
        }),
      ).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.dueDate', http: { status: 400 } });
    },
  );

  it.each(['20240101', '"2024-13-01"', '{ y: 2024 }', '["2024-01-01"]', 'true'])(
    'refuses dueDate %s inline, naming the field',
    literal => {
      expect(
        refusal(`mutation { createTask(input: { title: "t", dueDate: ${literal} }) { id } }`),
      ).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.dueDate',
        message: 'input.dueDate must be a calendar date as YYYY-MM-DD',
      });
    },
  );

  it('names a variable by where it is used, as the subgraph would', () => {
    expect(
      refusal(
        'query ($f: TaskFilter, $d: Date) { tasks(filter: $f) { totalCount } a: tasks(filter: { dueAfter: $d }) { totalCount } }',
        {
          f: { dueBefore: '2026-3-1' },
        },
      ),
    ).toMatchObject({ field: 'filter.dueBefore' });
    expect(
      refusal('query ($d: Date = "x") { tasks(filter: { dueAfter: $d }) { totalCount } }', {
        d: 1,
      }),
    ).toMatchObject({ field: 'filter.dueAfter' });
  });

  it('accepts real dates, null, and values of other types', () => {
    expect(
      refusal(
        'mutation ($d: Date, $i: UpdateTaskInput!) { a: createTask(input: { title: "2024", dueDate: $d }) { id } b: updateTask(id: "1", input: $i) { id } c: createTask(input: { title: "x", dueDate: null }) { id } }',
        { d: '2024-02-29', i: { dueDate: null, title: 20240101 } },
      ),
    ).toBeNull();
  });
});
