import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'amqplib';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseEvent, type AnyEvent } from '#lib/events/envelope.js';
import { subgraphs } from '../../subgraphs/index.js';
import { freePort } from '../support/ports.js';
import {
  createTestDatabase,
  TEST_AMQP_URL,
  uniqueName,
  type TestDatabase,
} from '../support/services.js';
import { postGraphQL } from '../support/supergraph.js';
import { waitFor } from '../support/wait.js';

/**
 * `npm start`'s process on real Postgres and RabbitMQ, sent SIGTERM while registrations are
 * in flight: every registration it acknowledged is stored and its user.created event is on
 * RabbitMQ; it exits 0.
 */
let child: ChildProcess;
let databases: TestDatabase[] = [];
let routerUrl: string;
let exitCode: Promise<number | null>;

beforeAll(async () => {
  databases = await Promise.all(subgraphs.map(({ name }) => createTestDatabase(`${name}_sigterm`)));
  const [router, users, tasks, notifications] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  routerUrl = `http://127.0.0.1:${router}/graphql`;
  child = spawn(process.execPath, ['--import', 'tsx', 'main.ts'], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      ROUTER_PORT: String(router),
      USERS_PORT: String(users),
      TASKS_PORT: String(tasks),
      NOTIFICATIONS_PORT: String(notifications),
      JWT_SECRET: randomBytes(32).toString('hex'),
      ROUTER_SECRET: randomBytes(32).toString('hex'),
      USERS_DATABASE_URL: databases[0]!.url,
      TASKS_DATABASE_URL: databases[1]!.url,
      NOTIFICATIONS_DATABASE_URL: databases[2]!.url,
      AMQP_URL: TEST_AMQP_URL,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  exitCode = new Promise(resolve => child.once('exit', code => resolve(code)));
  await waitFor(async () => (await fetch(routerUrl.replace('/graphql', '/ready'))).ok, {
    timeoutMs: 60_000,
  });
}, 90_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(databases.map(d => d.drop()));
  // This process used the real (un-namespaced) names: remove its durable work queues.
  const conn = await connect(TEST_AMQP_URL);
  const ch = await conn.createChannel();
  for (const q of ['tasks.user-sync', 'notifications.task-events', 'notifications.user-sync'])
    await ch.deleteQueue(q);
  await conn.close();
});

it('finishes in-flight requests and publishes their events on SIGTERM', async () => {
  // A queue of our own on the real exchange, as another team's consumer would bind.
  const conn = await connect(TEST_AMQP_URL);
  const ch = await conn.createChannel();
  await ch.assertExchange('supergraph.events', 'topic', { durable: true });
  const { queue } = await ch.assertQueue(uniqueName('sigterm_tap'), {
    exclusive: true,
    autoDelete: true,
  });
  await ch.bindQueue(queue, 'supergraph.events', 'user.created');
  const events: AnyEvent[] = [];
  await ch.consume(
    queue,
    msg => {
      if (msg) events.push(parseEvent(msg.content, msg.fields.routingKey));
    },
    { noAck: true },
  );

  const tag = randomBytes(3).toString('hex');
  const register = (i: number) =>
    postGraphQL<{ register: { user: { id: string } } }>(
      routerUrl,
      `mutation { register(input: { username: "sig${tag}_${i}", email: "sig${tag}_${i}@example.com", password: "password-${i}" }) { user { id } } }`,
    ).then(
      res => ({
        ok: res.status === 200 && !res.errors,
        id: res.data?.register.user.id,
        status: res.status,
      }),
      () => ({ ok: false, id: undefined, status: 0 }),
    );
  const inFlight = Array.from({ length: 30 }, (_, i) => register(i));
  await Promise.race(inFlight);
  child.kill('SIGTERM');
  const results = await Promise.all(inFlight);
  expect(await exitCode).toBe(0);

  const acknowledged = results.filter(r => r.ok).map(r => r.id!);
  expect(acknowledged.length).toBeGreaterThan(0);
  // Anything refused was refused at the door (connection closed), never half-done (500).
  expect(results.filter(r => !r.ok).every(r => r.status === 0 || r.status === 503)).toBe(true);
  const sql = postgres(databases[0]!.url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ id: string }[]>`select id from users where id = any(${acknowledged})`;
    expect(rows).toHaveLength(acknowledged.length);
    const pending = await sql<
      { n: number }[]
    >`select count(*)::int as n from outbox where published_at is null`;
    expect(pending[0]?.n).toBe(0);
  } finally {
    await sql.end();
  }
  await waitFor(() =>
    acknowledged.every(id => events.some(e => e.type === 'user.created' && e.data.id === id)),
  );
  await conn.close();
}, 60_000);
