import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { captureLogger, taskCreated } from './__fixtures__/support.js';
import type { AnyEvent } from './envelope.js';
import { PoisonMessageError } from './envelope.js';
import { createMemoryBus, type MemoryBus } from './memory.js';

/** What the contract suite cannot see from outside: timing and the dead-letter list. */

let bus: MemoryBus;
afterEach(() => bus.close());

function create(): MemoryBus {
  bus = createMemoryBus({ log: captureLogger().log, retryDelayMs: 10 });
  return bus;
}

describe('memory bus', () => {
  it('never delivers inside the publish call', async () => {
    create();
    const seen: AnyEvent[] = [];
    const live: AnyEvent[] = [];
    await bus.consume({ queue: 'q', bindings: ['#'], handler: async e => void seen.push(e) });
    await bus.live({ bindings: ['#'], onEvent: e => live.push(e) });
    void bus.publish([taskCreated()]);
    expect(seen).toHaveLength(0);
    expect(live).toHaveLength(0);
    await waitFor(() => seen.length === 1 && live.length === 1);
  });

  it('gives consumers a copy parsed from JSON, not the published object', async () => {
    create();
    const seen: AnyEvent[] = [];
    await bus.consume({ queue: 'q', bindings: ['#'], handler: async e => void seen.push(e) });
    const event = taskCreated();
    await bus.publish([event]);
    await waitFor(() => seen.length === 1);
    expect(seen[0]).toEqual(event);
    expect(seen[0]).not.toBe(event);
  });

  it('alternates consumers of one queue and honours prefetch', async () => {
    create();
    const who: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const handler = (name: string) => async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise(resolve => setImmediate(resolve));
      who.push(name);
      running--;
    };
    await bus.consume({ queue: 'q', bindings: ['#'], handler: handler('a'), prefetch: 1 });
    await bus.consume({ queue: 'q', bindings: ['#'], handler: handler('b'), prefetch: 1 });
    await bus.publish([taskCreated(), taskCreated(), taskCreated(), taskCreated()]);
    await waitFor(() => who.length === 4);
    expect(who.filter(w => w === 'a')).toHaveLength(2);
    expect(maxRunning).toBe(2);

    const parallel = createMemoryBus({ log: captureLogger().log });
    let concurrent = 0;
    let peak = 0;
    let done = 0;
    await parallel.consume({
      queue: 'p',
      bindings: ['#'],
      prefetch: 3,
      handler: async () => {
        peak = Math.max(peak, ++concurrent);
        await new Promise(resolve => setTimeout(resolve, 5));
        concurrent--;
        done++;
      },
    });
    await parallel.publish(Array.from({ length: 9 }, () => taskCreated()));
    await waitFor(() => done === 9);
    expect(peak).toBe(3);
    await parallel.close();
  });

  it('lists dead letters with the reason, and the event when it parsed', async () => {
    create();
    const poisonous = taskCreated('poison');
    await bus.consume({
      queue: 'q',
      bindings: ['task.*'],
      handler: async () => {
        throw new PoisonMessageError('no thanks');
      },
    });
    bus.publishRaw('task.created', Buffer.from('garbage'));
    await bus.publish([poisonous]);
    await waitFor(() => bus.deadLetters().length === 2);
    expect(bus.deadLetters()).toEqual([
      { queue: 'q', routingKey: 'task.created', body: 'garbage', reason: 'body is not JSON' },
      {
        queue: 'q',
        routingKey: 'task.created',
        body: JSON.stringify(poisonous),
        event: poisonous,
        reason: 'no thanks',
      },
    ]);
  });

  it('stops a handler backoff short on stop() and keeps the event for the next consumer', async () => {
    bus = createMemoryBus({ log: captureLogger().log, retryDelayMs: 60_000 });
    let attempts = 0;
    const consumer = await bus.consume({
      queue: 'q',
      bindings: ['#'],
      handler: async () => {
        attempts++;
        throw new Error('not now');
      },
    });
    const event = taskCreated();
    await bus.publish([event]);
    await waitFor(() => attempts === 1);
    await consumer.stop();
    const seen: AnyEvent[] = [];
    await bus.consume({ queue: 'q', bindings: ['#'], handler: async e => void seen.push(e) });
    await waitFor(() => seen.length === 1);
    expect(seen[0]?.id).toBe(event.id);
  });
});
