import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isNotNull, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { proxyToBroker } from '../../test/support/amqp.js';
import { createTestDatabase, TEST_AMQP_URL, uniqueName } from '../../test/support/services.js';
import { waitFor } from '../../test/support/wait.js';
import { openDatabase, queryRows, type Database } from '../db.js';
import { AmqpAdmin, captureLogger, taskCreated, userCreated } from './__fixtures__/support.js';
import { createAmqpBus } from './amqp.js';
import { HEADER_NAMES, type EventBus } from './bus.js';
import type { EventEnvelope } from './envelope.js';
import { applyOnce } from './inbox.js';
import { enqueueEvents, publishedSince, startOutboxRelay, type OutboxRelay } from './outbox.js';
import { outbox, processedEvents } from './tables.js';

/**
 * The outbox relay and the inbox against real databases (Postgres and PGlite) and a real
 * RabbitMQ: what reaches the broker is read back from a queue of our own.
 */

const schema = { outbox, processedEvents };
type Db = Database<typeof schema>;
const migrationsFolder = fileURLToPath(new URL('./__fixtures__/migrations', import.meta.url));

interface Opened {
  db: Db;
  /** A second handle on the same database, as another replica would have (PGlite: the same one). */
  second(): Promise<Db>;
}

const drivers: [string, (cleanup: (fn: () => Promise<void>) => void) => Promise<Opened>][] = [
  [
    'postgres',
    async cleanup => {
      const database = await createTestDatabase('outbox');
      cleanup(() => database.drop());
      const { log } = captureLogger();
      const open = async () => {
        const opened = await openDatabase({
          url: database.url,
          name: 'events',
          dataDir: '',
          schema,
          migrationsFolder,
          log,
        });
        cleanup(() => opened.close());
        return opened.db;
      };
      return { db: await open(), second: open };
    },
  ],
  [
    'pglite',
    async cleanup => {
      const dataDir = await mkdtemp(join(tmpdir(), 'outbox-'));
      cleanup(() => rm(dataDir, { recursive: true, force: true }));
      const { log } = captureLogger();
      const opened = await openDatabase({
        url: undefined,
        name: 'events',
        dataDir,
        schema,
        migrationsFolder,
        log,
      });
      cleanup(() => opened.close());
      return { db: opened.db, second: async () => opened.db };
    },
  ],
];

/** One database per suite (PGlite is slow to open); each test starts from empty tables. */
function useDatabase(openDb: (cleanup: (fn: () => Promise<void>) => void) => Promise<Opened>) {
  const suiteCleanups: (() => Promise<void>)[] = [];
  const state = {} as Opened;
  beforeAll(async () => {
    Object.assign(state, await openDb(fn => void suiteCleanups.push(fn)));
  });
  afterAll(async () => {
    for (const fn of suiteCleanups.splice(0).reverse()) await fn().catch(() => {});
  });
  beforeEach(async () => {
    await state.db.execute(sql`truncate outbox, processed_events`);
  });
  return state;
}

describe.each(drivers)('outbox relay on %s', (_driver, openDb) => {
  let cleanups: (() => Promise<void>)[];
  let db: Db;
  let second: () => Promise<Db>;
  let admin: AmqpAdmin;
  let namespace: string;
  let tap: string;

  const cleanup = (fn: () => Promise<void>) => void cleanups.push(fn);
  const database = useDatabase(openDb);

  beforeEach(async () => {
    cleanups = [];
    ({ db, second } = database);
    namespace = `${uniqueName('outbox')}.`;
    admin = await AmqpAdmin.open(TEST_AMQP_URL, namespace);
    cleanup(() => admin.cleanup(['tap']));
    tap = await admin.tap('tap');
  });

  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  });

  async function bus(url = TEST_AMQP_URL): Promise<EventBus> {
    const { log } = captureLogger();
    const created = await createAmqpBus({
      url,
      log,
      namespace,
      reconnectDelayMs: 200,
      publishTimeoutMs: 1000,
      connectTimeoutMs: 2000,
    });
    cleanup(() => created.close());
    return created;
  }

  function relay(database: Db, eventBus: EventBus, log = captureLogger().log): OutboxRelay {
    const started = startOutboxRelay({
      db: database,
      bus: eventBus,
      log,
      pollIntervalMs: 200,
      maxBackoffMs: 300,
    });
    cleanup(() => started.stop());
    return started;
  }

  async function commit(events: EventEnvelope[], on: Db = db): Promise<void> {
    await on.transaction(async tx => enqueueEvents(tx, events));
  }

  async function published(): Promise<string[]> {
    return (await admin.drain(tap)).map(message => message.messageId ?? '?');
  }

  it('publishes nothing from a transaction that rolled back', async () => {
    const r = relay(db, await bus());
    const rolledBack = taskCreated('rolled back');
    await expect(
      db.transaction(async tx => {
        await enqueueEvents(tx, [rolledBack]);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    const marker = taskCreated('committed');
    await commit([marker]);
    r.wake();
    await r.flush();
    expect(await published()).toEqual([marker.id]);
    expect(await r.backlog()).toBe(0);
  });

  it('publishes committed events exactly once, in commit order', async () => {
    const r = relay(db, await bus());
    const batches = [
      [taskCreated('a'), taskCreated('b')],
      [userCreated('c')],
      [taskCreated('d'), userCreated('e'), taskCreated('f')],
    ];
    for (const batch of batches) {
      await commit(batch);
      r.wake();
    }
    await r.flush();
    expect(await published()).toEqual(batches.flat().map(e => e.id));
    const rows = await db
      .select({ id: outbox.id })
      .from(outbox)
      .where(isNotNull(outbox.publishedAt));
    expect(rows).toHaveLength(6);
    // Stored as a JSON object (not a JSON string), so SQL can look inside it.
    const kinds = await queryRows<{ kind: string }>(
      db,
      sql`select distinct jsonb_typeof(envelope) as kind from outbox`,
    );
    expect(kinds).toEqual([{ kind: 'object' }]);
    // A later flush finds nothing left to send.
    await r.flush();
    expect(await published()).toEqual([]);
  });

  it('numbers events in publish order, on each message, and replays what followed a position', async () => {
    const r = relay(db, await bus());
    const [a, b, c, d] = [taskCreated('a'), taskCreated('b'), userCreated('c'), taskCreated('d')];
    await commit([a, b]);
    r.wake();
    await r.flush();
    await commit([c, d]);
    r.wake();
    await r.flush();
    const messages = await admin.drain(tap);
    expect(messages.map(m => m.messageId)).toEqual([a.id, b.id, c.id, d.id]);
    const positions = messages.map(m => m.headers[HEADER_NAMES.position] as number);
    // Consecutive, in the order subscribers received them (the sequence outlives truncate).
    expect(positions).toEqual([0, 1, 2, 3].map(i => positions[0]! + i));
    const after = (position: number, types: string[], limit = 10) =>
      publishedSince(db, position, types, limit).then(rows =>
        rows.map(row => [row.position, row.event.id]),
      );
    expect(await after(positions[1]!, ['task.created'])).toEqual([[positions[3], d.id]]);
    expect(await after(positions[0]!, ['task.created', 'user.created'], 2)).toEqual([
      [positions[1], b.id],
      [positions[2], c.id],
    ]);
    expect(await after(positions[3]!, ['task.created'])).toEqual([]);
  });

  it('keeps events while the broker is unreachable and publishes each once when it is back', async () => {
    const { proxy, url } = await proxyToBroker();
    cleanup(() => proxy.stop());
    const flaky = await bus(url);
    expect(flaky.connected()).toBe(true);
    const { log, lines } = captureLogger();
    const r = relay(db, flaky, log);

    await proxy.stop();
    await waitFor(() => !flaky.connected());
    const events = [taskCreated('1'), userCreated('2'), taskCreated('3')];
    await commit(events.slice(0, 2));
    r.wake();
    await commit(events.slice(2));
    await expect(r.flush()).rejects.toThrow(/RabbitMQ/);
    expect(await r.backlog()).toBe(3);
    expect(
      lines.some(
        line =>
          line.level === 40 && line.msg === 'outbox publish failed; events stay in the outbox',
      ),
    ).toBe(true);
    expect(await published()).toEqual([]);

    await proxy.start();
    await waitFor(async () => (await r.backlog()) === 0, { timeoutMs: 15_000 });
    await r.flush();
    expect(await published()).toEqual(events.map(e => e.id));
  });

  it('never publishes an event twice with two relays on the same database', async () => {
    const otherDb = await second();
    const relays = [relay(db, await bus()), relay(otherDb, await bus())];
    const events: EventEnvelope[] = [];
    for (let i = 0; i < 10; i++) {
      const batch = [taskCreated(`t${i}`), userCreated(`u${i}`), taskCreated(`v${i}`)];
      events.push(...batch);
      await commit(batch, i % 2 === 0 ? db : otherDb);
      for (const r of relays) r.wake();
    }
    await waitFor(async () => (await relays[0]!.backlog()) === 0, { timeoutMs: 15_000 });
    await Promise.all(relays.map(r => r.flush()));
    expect(await published()).toEqual(events.map(e => e.id));
  });
});

describe.each(drivers)('inbox on %s', (_driver, openDb) => {
  let db: Db;
  const database = useDatabase(openDb);
  beforeEach(() => {
    db = database.db;
  });

  it('applies an event once per consumer, however often it is delivered', async () => {
    const event = taskCreated('once');
    let applied = 0;
    const apply = async () => void applied++;
    expect(await applyOnce(db, 'tasks.user-sync', event, apply)).toBe(true);
    expect(await applyOnce(db, 'tasks.user-sync', event, apply)).toBe(false);
    expect(applied).toBe(1);
    // Another consumer keeps its own record.
    expect(await applyOnce(db, 'notifications.fanout', event, apply)).toBe(true);
    expect(applied).toBe(2);
  });

  it('forgets the event when applying it fails, so the redelivery applies it', async () => {
    const event = taskCreated('retry');
    const effect = taskCreated('effect');
    await expect(
      applyOnce(db, 'c', event, async tx => {
        await enqueueEvents(tx, [effect]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await db.select().from(outbox)).toHaveLength(0);
    expect(await applyOnce(db, 'c', event, tx => enqueueEvents(tx, [effect]))).toBe(true);
    expect(await db.select().from(outbox)).toHaveLength(1);
  });

  it('applies once when two deliveries race', async () => {
    const event = taskCreated('race');
    let applied = 0;
    const results = await Promise.all(
      [1, 2, 3].map(() =>
        applyOnce(db, 'c', event, async () => {
          applied++;
        }),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(applied).toBe(1);
  });
});
