import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AmqpAdmin,
  captureLogger,
  taskCreated,
  userCreated,
  type LogLine,
} from '#lib/events/__fixtures__/support.js';
import { createAmqpBus } from '#lib/events/amqp.js';
import type { Consumer, EventBus } from '#lib/events/bus.js';
import { PoisonMessageError, type AnyEvent, type EventEnvelope } from '#lib/events/envelope.js';
import { createMemoryBus } from '#lib/events/memory.js';
import { workQueues } from '#lib/subgraph/descriptor.js';
import { subgraphs } from '../../subgraphs/index.js';
import { TEST_AMQP_URL, uniqueName } from '../support/services.js';
import { waitFor } from '../support/wait.js';

/**
 * One suite, both transports: whatever a service sees from RabbitMQ it must also see from the
 * in-process bus of the embedded mode, and the other way round.
 */

const RETRY_DELAY_MS = 50;

interface Harness {
  bus: EventBus;
  /** Another replica of the same service: a second connection for RabbitMQ, the shared instance in memory. */
  replica(): Promise<EventBus>;
  /** Publishes bytes on a routing key as a foreign (possibly broken) producer would. */
  injectRaw(routingKey: string, body: string, messageId: string): Promise<void>;
  /** Bodies that reached the dead-letter queue so far. */
  deadBodies(): Promise<string[]>;
  lines: LogLine[];
  teardown(): Promise<void>;
}

/** The deployment's work queues, which every bus declares on connect. */
const DECLARED = workQueues(subgraphs);
const QUEUES = [
  't.basic',
  't.work',
  't.users',
  't.order',
  't.poison',
  't.retry',
  't.stop',
  ...Object.keys(DECLARED),
];

const transports: [string, () => Promise<Harness>][] = [
  [
    'memory',
    async () => {
      const { log, lines } = captureLogger();
      const bus = createMemoryBus({ log, retryDelayMs: RETRY_DELAY_MS, queues: DECLARED });
      return {
        bus,
        replica: async () => bus,
        injectRaw: async (routingKey, body) => bus.publishRaw(routingKey, body),
        deadBodies: async () => bus.deadLetters().map(dead => dead.body),
        lines,
        teardown: () => bus.close(),
      };
    },
  ],
  [
    'amqp',
    async () => {
      const { log, lines } = captureLogger();
      const namespace = `${uniqueName('contract')}.`;
      const open = () =>
        createAmqpBus({
          url: TEST_AMQP_URL,
          log,
          namespace,
          queues: DECLARED,
          service: 'contract-test',
          retryDelayMs: RETRY_DELAY_MS,
        });
      const bus = await open();
      const admin = await AmqpAdmin.open(TEST_AMQP_URL, namespace);
      const buses = [bus];
      const dead: string[] = [];
      return {
        bus,
        replica: async () => {
          const replica = await open();
          buses.push(replica);
          return replica;
        },
        injectRaw: (routingKey, body, messageId) => admin.publishRaw(routingKey, body, messageId),
        deadBodies: async () => {
          dead.push(
            ...(await admin.drain(admin.names.deadLetterQueue)).map(message => message.body),
          );
          return dead;
        },
        lines,
        teardown: async () => {
          await Promise.all(buses.map(b => b.close()));
          await admin.cleanup(QUEUES);
        },
      };
    },
  ],
];

/** Collects what a handler saw, in order. */
function recorder() {
  const seen: AnyEvent[] = [];
  return {
    seen,
    ids: () => seen.map(event => event.id),
    handler: async (event: AnyEvent) => void seen.push(event),
  };
}

describe.each(transports)('event bus contract: %s', (transport, create) => {
  let h: Harness;
  beforeEach(async () => {
    h = await create();
  });
  afterEach(async () => {
    await h.teardown();
  });

  it('is connected and delivers a published event to a consumer with its envelope intact', async () => {
    expect(h.bus.transport).toBe(transport);
    expect(h.bus.connected()).toBe(true);
    const r = recorder();
    await h.bus.consume({ queue: 't.basic', bindings: ['task.*'], handler: r.handler });
    const event = taskCreated('hello');
    await h.bus.publish([event]);
    await waitFor(() => r.seen.length === 1);
    expect(r.seen[0]).toEqual(event);
  });

  it('keeps events for the contract work queues before their consumer ever started', async () => {
    // The users service publishes before the tasks service first starts (a fresh deployment).
    const early = userCreated('early');
    await h.bus.publish([early]);
    const tasks = await h.replica();
    const r = recorder();
    await tasks.consume({ queue: 'tasks.user-sync', bindings: ['user.*'], handler: r.handler });
    await waitFor(() => r.seen.length === 1);
    expect(r.ids()).toEqual([early.id]);
  });

  it('shares a work queue between replicas: each event is handled once in total', async () => {
    const other = await h.replica();
    const byReplica = new Map<string, string[]>([
      ['a', []],
      ['b', []],
    ]);
    const handler = (name: string) => async (event: AnyEvent) => {
      await delay(2);
      byReplica.get(name)?.push(event.id);
    };
    await h.bus.consume({ queue: 't.work', bindings: ['task.#'], handler: handler('a') });
    await other.consume({ queue: 't.work', bindings: ['task.#'], handler: handler('b') });
    const events = Array.from({ length: 20 }, (_, i) => taskCreated(`work ${i}`));
    await h.bus.publish(events);
    const all = () => [...(byReplica.get('a') ?? []), ...(byReplica.get('b') ?? [])];
    await waitFor(() => all().length >= events.length);
    expect(all()).toHaveLength(events.length);
    expect(new Set(all())).toEqual(new Set(events.map(e => e.id)));
    expect(byReplica.get('a')?.length).toBeGreaterThan(0);
    expect(byReplica.get('b')?.length).toBeGreaterThan(0);
  });

  it('fans live events out to every live subscriber, filtered by binding', async () => {
    const other = await h.replica();
    const a: AnyEvent[] = [];
    const b: AnyEvent[] = [];
    await h.bus.live({ bindings: ['task.*'], onEvent: event => a.push(event) });
    await other.live({ bindings: ['task.*'], onEvent: event => b.push(event) });
    // The user event goes first: had it been routed, it would arrive before the tasks.
    const events: EventEnvelope[] = [
      userCreated('grace'),
      taskCreated('one'),
      taskCreated('two'),
      taskCreated('three'),
    ];
    await h.bus.publish(events);
    await waitFor(() => a.length === 3 && b.length === 3);
    const expected = events.slice(1).map(e => e.id);
    expect(a.map(e => e.id)).toEqual(expected);
    expect(b.map(e => e.id)).toEqual(expected);
  });

  it('routes by binding: `user.*` does not get task.created', async () => {
    const r = recorder();
    await h.bus.consume({ queue: 't.users', bindings: ['user.*'], handler: r.handler });
    const user = userCreated('linus');
    await h.bus.publish([taskCreated('not for users'), user]);
    await waitFor(() => r.seen.length > 0);
    expect(r.ids()).toEqual([user.id]);
  });

  it('keeps publish order with prefetch 1, across and within publish calls', async () => {
    const r = recorder();
    await h.bus.consume({
      queue: 't.order',
      bindings: ['#'],
      prefetch: 1,
      handler: async event => {
        await delay(Math.floor(Math.random() * 3));
        await r.handler(event);
      },
    });
    const first = Array.from({ length: 25 }, (_, i) => taskCreated(`batch ${i}`));
    const second = [userCreated('a'), taskCreated('single'), userCreated('b')];
    await h.bus.publish(first);
    for (const event of second) await h.bus.publish([event]);
    const expected = [...first, ...second].map(e => e.id);
    await waitFor(() => r.seen.length >= expected.length);
    expect(r.ids()).toEqual(expected);
  });

  it('dead-letters poison messages and keeps consuming', async () => {
    const r = recorder();
    await h.bus.consume({
      queue: 't.poison',
      bindings: ['task.*'],
      handler: async event => {
        if (event.type === 'task.created' && event.data.task.title === 'poison')
          throw new PoisonMessageError('handler says no');
        await r.handler(event);
      },
    });
    const wrongVersion = { ...taskCreated('v2'), version: 2 };
    const badPayload = { ...taskCreated('bad'), data: { task: { id: 'x' } } };
    const handlerPoison = taskCreated('poison');
    const raw = [
      { id: 'not-json', body: 'not json{' },
      { id: wrongVersion.id, body: JSON.stringify(wrongVersion) },
      { id: badPayload.id, body: JSON.stringify(badPayload) },
    ];
    for (const message of raw) await h.injectRaw('task.created', message.body, message.id);
    await h.bus.publish([handlerPoison]);
    const after = taskCreated('after the poison');
    await h.bus.publish([after]);

    await waitFor(() => r.seen.length === 1);
    expect(r.ids()).toEqual([after.id]);
    const dead = await waitFor(async () => {
      const bodies = await h.deadBodies();
      return bodies.length >= 4 && bodies;
    });
    expect(dead).toHaveLength(4);
    expect(dead).toContain('not json{');
    expect(
      dead.map(body => (body.startsWith('{') ? (JSON.parse(body) as { id: string }).id : body)),
    ).toEqual(expect.arrayContaining([wrongVersion.id, badPayload.id, handlerPoison.id]));
    const warnings = h.lines.filter(
      line => line.level === 40 && line.msg === 'poison message dead-lettered',
    );
    expect(warnings).toHaveLength(4);
    expect(warnings.map(line => line.reason)).toEqual(
      expect.arrayContaining([
        'body is not JSON',
        'unknown version 2 of "task.created"',
        'handler says no',
      ]),
    );
    if (transport === 'amqp') {
      expect(warnings.map(line => line.messageId)).toEqual([
        ...raw.map(m => m.id),
        handlerPoison.id,
      ]);
    }
  });

  it('redelivers an event whose handler failed, in order, until it is handled', async () => {
    const attempts = new Map<string, number>();
    const r = recorder();
    await h.bus.consume({
      queue: 't.retry',
      bindings: ['task.*'],
      handler: async event => {
        const n = (attempts.get(event.id) ?? 0) + 1;
        attempts.set(event.id, n);
        if (event.type === 'task.created' && event.data.task.title === 'flaky' && n < 3)
          throw new Error('database is down');
        await r.handler(event);
      },
    });
    const flaky = taskCreated('flaky');
    const next = taskCreated('next');
    await h.bus.publish([flaky, next]);
    await waitFor(() => r.seen.length === 2);
    expect(r.ids()).toEqual([flaky.id, next.id]);
    expect(attempts.get(flaky.id)).toBe(3);
    expect(attempts.get(next.id)).toBe(1);
    expect(
      h.lines.filter(
        line => line.level === 50 && line.msg === 'event handler failed; will redeliver',
      ),
    ).toHaveLength(2);
  });

  it('stops consuming after stop(), letting the event in hand finish first', async () => {
    const other = await h.replica();
    const first = recorder();
    let release!: () => void;
    const gate = new Promise<void>(resolve => (release = resolve));
    const held = taskCreated('held');
    const consumer: Consumer = await h.bus.consume({
      queue: 't.stop',
      bindings: ['task.*'],
      handler: async event => {
        await first.handler(event);
        if (event.id === held.id) await gate;
      },
    });
    await h.bus.publish([held]);
    await waitFor(() => first.seen.length === 1);
    let stopped = false;
    const stopping = consumer.stop().then(() => (stopped = true));
    await delay(20);
    expect(stopped).toBe(false);
    release();
    await stopping;

    // The queue outlives its consumer; the next one gets only what came after, so `held` was acked.
    const later = taskCreated('later');
    await h.bus.publish([later]);
    const second = recorder();
    await other.consume({ queue: 't.stop', bindings: ['task.*'], handler: second.handler });
    await waitFor(() => second.seen.length === 1);
    expect(second.ids()).toEqual([later.id]);
    expect(first.ids()).toEqual([held.id]);
  });

  it('refuses to publish after close()', async () => {
    await h.bus.close();
    expect(h.bus.connected()).toBe(false);
    await expect(h.bus.publish([taskCreated('too late')])).rejects.toThrow(/closed/);
  });
});
