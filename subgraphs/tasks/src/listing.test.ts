import { describe, expect, it } from 'vitest';
import { thrown } from './__fixtures__/errors.js';
import { listOptions, parseListArgs, requestKey } from './listing.js';

describe('task list arguments', () => {
  it('default to 20 tasks, newest first, no filter', () => {
    expect(parseListArgs({})).toEqual({
      filter: {},
      order: { field: 'CREATED_AT', direction: 'DESC' },
      first: 20,
      after: null,
    });
    expect(listOptions(parseListArgs({ first: 5 }), 'viewer')).toMatchObject({
      visibleTo: 'viewer',
      limit: 6,
    });
  });

  it('take a date range whose bounds may meet but not cross', () => {
    expect(
      parseListArgs({ filter: { dueAfter: '2026-01-01', dueBefore: '2026-01-01' } }).filter,
    ).toMatchObject({
      dueAfter: '2026-01-01',
      dueBefore: '2026-01-01',
    });
    expect(
      thrown(() => parseListArgs({ filter: { dueAfter: '2026-01-02', dueBefore: '2026-01-01' } })),
    ).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'filter.dueBefore',
    });
  });

  it('name the argument that is wrong', () => {
    expect(thrown(() => parseListArgs({ first: 101 }))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'first',
    });
    expect(thrown(() => parseListArgs({ after: 'nope' }))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
    expect(thrown(() => parseListArgs({ filter: { dueAfter: '2026/01/01' } }))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'filter.dueAfter',
    });
  });

  it('give equal requests equal keys, so loaders batch them', () => {
    const a = parseListArgs({ filter: { status: ['TODO'], search: ' x ' }, first: 3 });
    const b = parseListArgs({ first: 3, filter: { search: 'x', status: ['TODO'] } });
    expect(requestKey(a)).toBe(requestKey(b));
    expect(requestKey(a)).not.toBe(
      requestKey(parseListArgs({ first: 4, filter: { status: ['TODO'], search: 'x' } })),
    );
  });
});
