import { describe, expect, it } from 'vitest';
import { thrown } from './__fixtures__/errors.js';
import type { TaskRow } from './db/schema.js';
import { diffTask, taskPatch } from './tasks.js';

const task: TaskRow = {
  id: 'id',
  title: 'Plan',
  description: 'Details',
  status: 'TODO',
  priority: 'MEDIUM',
  dueDate: '2026-05-01',
  ownerId: 'o',
  assigneeId: null,
  createdAt: new Date(),
  updatedAt: new Date(),
};

describe('updates', () => {
  it('take the given fields, checked; null clears description and dueDate only', () => {
    expect(taskPatch({})).toEqual({});
    expect(taskPatch({ title: ' New ', description: null, dueDate: null, status: 'DONE' })).toEqual(
      {
        title: 'New',
        description: null,
        dueDate: null,
        status: 'DONE',
      },
    );
    expect(thrown(() => taskPatch({ title: null }))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.title',
    });
    expect(thrown(() => taskPatch({ status: null }))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.status',
    });
    expect(thrown(() => taskPatch({ priority: null }))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.priority',
    });
    expect(thrown(() => taskPatch({ dueDate: '2026-02-30' }))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.dueDate',
    });
  });

  it('change only what differs, and remember what it was', () => {
    expect(diffTask(task, { title: 'Plan', status: 'TODO', dueDate: '2026-05-01' })).toEqual({
      changed: [],
      previous: {},
      set: {},
    });
    expect(
      diffTask(task, { dueDate: null, status: 'DONE', title: 'Plan', description: null }),
    ).toEqual({
      changed: ['description', 'status', 'dueDate'],
      previous: { description: 'Details', status: 'TODO', dueDate: '2026-05-01' },
      set: { description: null, status: 'DONE', dueDate: null },
    });
  });
});
