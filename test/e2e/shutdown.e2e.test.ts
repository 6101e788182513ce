import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { subgraphs } from '../../subgraphs/index.js';
import { createTestVhost, tapEvents, type EventTap, type TestVhost } from '../support/amqp.js';
import { freePort } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';
import { postGraphQL } from '../support/supergraph.js';
import { waitFor } from '../support/wait.js';

/**
 * `npm start`'s process on real Postgres and RabbitMQ, sent SIGTERM while registrations are
 * in flight: every registration it acknowledged is stored and its user.created event is on
 * RabbitMQ; it exits 0. main.ts declares the production exchange and queue names, so it runs
 * in a RabbitMQ virtual host of its own, deleted afterwards with all it declared.
 */
let child: ChildProcess;
let databases: TestDatabase[] = [];
let vhost: TestVhost;
let tap: EventTap | undefined;
let routerUrl: string;
let exitCode: Promise<number | null>;
let output = '';

beforeAll(async () => {
  vhost = await createTestVhost('sigterm');
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
      AMQP_URL: vhost.url,
      // Thirty scrypt hashes at once take seconds, more on a busy CI machine: a subgraph fetch
      // timing out then is a slow machine, not a request the shutdown cut short.
      SUBGRAPH_TIMEOUT_MS: '60000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // What it logged, to show if it exits otherwise than it should.
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  exitCode = new Promise(resolve => child.once('exit', code => resolve(code)));
  await waitFor(async () => (await fetch(routerUrl.replace('/graphql', '/ready'))).ok, {
    timeoutMs: 60_000,
  });
}, 90_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await exitCode;
  }
  await tap?.close();
  await Promise.all(databases.map(d => d.drop()));
  await vhost?.delete();
});

it('finishes in-flight requests and publishes their events on SIGTERM', async () => {
  // A queue of our own on the exchange main.ts publishes to (no namespace: the contract's
  // name, in this test's virtual host), as another team's consumer would bind.
  tap = await tapEvents('', 'user.created', vhost.url);
  const { events } = tap;

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
  expect(await exitCode, output.slice(-20_000)).toBe(0);

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
}, 60_000);
