import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { taskRow } from '#lib/events/__fixtures__/support.js';
import { createEvent, type TaskEventRow } from '#lib/events/envelope.js';
import { actorName, messageOf, recipientsOf, type TaskEvent } from './rules.js';

const owner = randomUUID();
const bob = randomUUID();
const carol = randomUUID();

const task = (overrides: Partial<TaskEventRow> = {}): TaskEventRow =>
  taskRow({ title: 'Write the report', ownerId: owner, assigneeId: bob, ...overrides });
const meta = (actorId: string | null) => ({ producer: 'tasks' as const, actorId });
const assigned = (
  assigneeId: string | null,
  previousAssigneeId: string | null,
  actorId: string | null = owner,
) =>
  createEvent('task.assigned', { task: task({ assigneeId }), previousAssigneeId }, meta(actorId));
const updated = (
  changed: string[],
  previous: Record<string, unknown>,
  overrides: Partial<TaskEventRow> = {},
  actorId: string | null = owner,
) => createEvent('task.updated', { task: task(overrides), changed, previous }, meta(actorId));

describe('recipientsOf', () => {
  it('notifies nobody of a creation', () => {
    expect(recipientsOf(createEvent('task.created', { task: task() }, meta(owner)))).toEqual([]);
  });

  it('tells the new assignee and the previous one, never the actor', () => {
    expect(recipientsOf(assigned(bob, carol))).toEqual([
      { userId: bob, kind: 'TASK_ASSIGNED' },
      { userId: carol, kind: 'TASK_UNASSIGNED' },
    ]);
    expect(recipientsOf(assigned(null, bob))).toEqual([{ userId: bob, kind: 'TASK_UNASSIGNED' }]);
    expect(recipientsOf(assigned(bob, null, bob))).toEqual([]);
    expect(recipientsOf(assigned(bob, bob))).toEqual([]);
  });

  it('tells owner and assignee of an update, the owner TASK_COMPLETED when it became DONE', () => {
    expect(recipientsOf(updated(['title'], { title: 'x' }, {}, carol))).toEqual([
      { userId: owner, kind: 'TASK_UPDATED' },
      { userId: bob, kind: 'TASK_UPDATED' },
    ]);
    expect(
      recipientsOf(updated(['status'], { status: 'IN_PROGRESS' }, { status: 'DONE' }, bob)),
    ).toEqual([{ userId: owner, kind: 'TASK_COMPLETED' }]);
    // Already done: a title change does not complete it again.
    expect(recipientsOf(updated(['title'], { title: 'x' }, { status: 'DONE' }, bob))).toEqual([
      { userId: owner, kind: 'TASK_UPDATED' },
    ]);
    expect(recipientsOf(updated([], {}, {}, carol))).toEqual([]);
  });

  it('sends one notification to an owner who is also the assignee', () => {
    const event = updated(
      ['status'],
      { status: 'TODO' },
      { status: 'DONE', assigneeId: owner },
      carol,
    );
    expect(recipientsOf(event)).toEqual([{ userId: owner, kind: 'TASK_COMPLETED' }]);
  });

  it('tells the assignee of a deletion', () => {
    expect(recipientsOf(createEvent('task.deleted', { task: task() }, meta(owner)))).toEqual([
      { userId: bob, kind: 'TASK_DELETED' },
    ]);
    expect(
      recipientsOf(createEvent('task.deleted', { task: task({ assigneeId: null }) }, meta(owner))),
    ).toEqual([]);
  });
});

describe('messageOf', () => {
  const say = (event: TaskEvent) => messageOf(recipientsOf(event)[0]!.kind, event, 'alice');

  it('reads like a sentence about the task', () => {
    expect(say(assigned(bob, null))).toBe('alice assigned you "Write the report"');
    expect(say(assigned(null, bob))).toBe('alice unassigned you from "Write the report"');
    expect(say(createEvent('task.deleted', { task: task() }, meta(owner)))).toBe(
      'alice deleted "Write the report"',
    );
    expect(say(updated(['status'], { status: 'TODO' }, { status: 'DONE' }, carol))).toBe(
      'alice completed "Write the report"',
    );
    expect(say(updated(['status'], { status: 'TODO' }, { status: 'IN_PROGRESS' }, carol))).toBe(
      'alice moved "Write the report" to In progress',
    );
    expect(say(updated(['title'], { title: 'Draft' }, {}, carol))).toBe(
      'alice renamed "Draft" to "Write the report"',
    );
    expect(say(updated(['priority', 'dueDate', 'description'], {}, {}, carol))).toBe(
      'alice changed the priority, due date and description of "Write the report"',
    );
    expect(say(updated(['somethingNew'], {}, {}, carol))).toBe('alice updated "Write the report"');
  });

  it('shortens a very long title', () => {
    const message = say(
      createEvent('task.deleted', { task: task({ title: 'x'.repeat(300) }) }, meta(owner)),
    );
    expect(message.length).toBeLessThan(100);
    expect(message).toMatch(/…"$/);
  });
});

describe('actorName', () => {
  it('uses the display name, and "Someone" for an unknown or deleted user', () => {
    expect(actorName({ username: 'alice', displayName: 'Alice A.', deletedAt: null })).toBe(
      'Alice A.',
    );
    expect(actorName({ username: 'alice', displayName: ' ', deletedAt: null })).toBe('alice');
    expect(actorName({ username: '', displayName: '', deletedAt: new Date() })).toBe('Someone');
    expect(actorName(undefined)).toBe('Someone');
  });
});
