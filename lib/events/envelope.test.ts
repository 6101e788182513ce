import { describe, expect, it } from 'vitest';
import { taskCreated, taskRow, userCreated } from './__fixtures__/support.js';
import { createEvent, EVENT_TYPES, parseEvent, PoisonMessageError } from './envelope.js';

const poison = (body: string, routingKey?: string) => {
  try {
    parseEvent(body, routingKey);
  } catch (err) {
    expect(err).toBeInstanceOf(PoisonMessageError);
    return (err as Error).message;
  }
  throw new Error('expected a PoisonMessageError');
};

describe('createEvent', () => {
  it('stamps id, version, time, producer and actor', () => {
    const at = new Date('2026-11-23T08:00:00.000Z');
    const event = createEvent(
      'user.deleted',
      { id: 'u1' },
      { producer: 'users', actorId: 'admin', occurredAt: at },
    );
    expect(event).toMatchObject({
      type: 'user.deleted',
      version: 1,
      occurredAt: at.toISOString(),
      producer: 'users',
      actorId: 'admin',
    });
    expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(
      createEvent('user.deleted', { id: 'u1' }, { producer: 'users', actorId: null }).id,
    ).not.toBe(event.id);
  });
});

describe('parseEvent', () => {
  it('round-trips every kind of event through JSON', () => {
    const task = taskRow({ assigneeId: 'someone', dueDate: '2026-12-01' });
    const events = [
      userCreated('ada'),
      createEvent(
        'user.updated',
        { id: 'u', username: 'ada', displayName: 'Ada', role: 'ADMIN' },
        { producer: 'users', actorId: 'u' },
      ),
      createEvent('user.deleted', { id: 'u' }, { producer: 'users', actorId: null }),
      createEvent(
        'user.session_revoked',
        { id: 'u', sessionId: 's' },
        { producer: 'users', actorId: 'u' },
      ),
      createEvent(
        'user.sessions_revoked',
        { id: 'u', before: new Date().toISOString() },
        { producer: 'users', actorId: null },
      ),
      taskCreated('t'),
      createEvent(
        'task.updated',
        { task, changed: ['title'], previous: { title: 'old' } },
        { producer: 'tasks', actorId: 'u' },
      ),
      createEvent(
        'task.assigned',
        { task, previousAssigneeId: null },
        { producer: 'tasks', actorId: 'u' },
      ),
      createEvent('task.deleted', { task }, { producer: 'tasks', actorId: 'u' }),
      createEvent(
        'notification.created',
        {
          notification: {
            id: 'n',
            userId: 'u',
            kind: 'TASK_ASSIGNED',
            message: 'hi',
            taskId: task.id,
            actorId: null,
            read: false,
            createdAt: new Date().toISOString(),
          },
        },
        { producer: 'notifications', actorId: null },
      ),
    ];
    expect(events.map(e => e.type).sort()).toEqual([...EVENT_TYPES].sort());
    for (const event of events) {
      expect(parseEvent(Buffer.from(JSON.stringify(event)), event.type)).toEqual(event);
      expect(parseEvent(JSON.stringify(event))).toEqual(event);
    }
  });

  it('rejects a body that is not JSON', () => {
    expect(poison('{not json')).toBe('body is not JSON');
  });

  it('rejects an invalid envelope', () => {
    expect(poison(JSON.stringify({ ...taskCreated(), id: 'not-a-uuid' }))).toMatch(
      /^invalid envelope/,
    );
    expect(poison(JSON.stringify({ ...taskCreated(), producer: 'billing' }))).toMatch(
      /^invalid envelope/,
    );
    expect(poison('null')).toMatch(/^invalid envelope/);
  });

  it('rejects an unknown type, a mismatched routing key and an unknown version', () => {
    expect(poison(JSON.stringify({ ...taskCreated(), type: 'task.exploded' }))).toBe(
      'unknown event type "task.exploded"',
    );
    expect(poison(JSON.stringify(taskCreated()), 'task.deleted')).toBe(
      'routing key "task.deleted" does not match type "task.created"',
    );
    expect(poison(JSON.stringify({ ...taskCreated(), version: 2 }))).toBe(
      'unknown version 2 of "task.created"',
    );
  });

  it('rejects a payload that fails validation', () => {
    const bad = { ...taskCreated(), data: { task: { ...taskRow(), status: 'MAYBE' } } };
    expect(poison(JSON.stringify(bad))).toMatch(/^invalid "task.created" payload/);
  });
});
