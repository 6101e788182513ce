import { describe, expect, it } from 'vitest';
import { busNames, topicMatches } from './bus.js';

describe('topicMatches', () => {
  it.each([
    ['task.created', 'task.created', true],
    ['task.created', 'task.deleted', false],
    ['task.*', 'task.created', true],
    ['task.*', 'task', false],
    ['task.*', 'task.created.extra', false],
    ['*.created', 'user.created', true],
    ['*.created', 'created', false],
    ['task.#', 'task', true],
    ['task.#', 'task.created', true],
    ['task.#', 'task.a.b.c', true],
    ['task.#', 'user.created', false],
    ['#', 'anything.at.all', true],
    ['#', '', true],
    ['#.created', 'task.created', true],
    ['#.created', 'created', true],
    ['#.created', 'task.updated', false],
    ['a.#.z', 'a.z', true],
    ['a.#.z', 'a.b.c.z', true],
    ['a.#.z', 'a.b.c', false],
    ['user.*', 'task.created', false],
  ])('%s against %s → %s', (pattern, key, expected) => {
    expect(topicMatches(pattern, key)).toBe(expected);
  });
});

describe('busNames', () => {
  it('uses the contract names, prefixed by the namespace', () => {
    expect(busNames()).toMatchObject({
      exchange: 'supergraph.events',
      deadLetterExchange: 'supergraph.events.dlx',
      deadLetterQueue: 'supergraph.events.dead',
    });
    const names = busNames({ namespace: 'test_1.' });
    expect(names.exchange).toBe('test_1.supergraph.events');
    expect(names.queue('tasks.user-sync')).toBe('test_1.tasks.user-sync');
  });
});
