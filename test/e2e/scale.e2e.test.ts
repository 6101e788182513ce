import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OUTBOX_BATCH_SIZE } from '#lib/events/outbox.js';
import { startScaledSupergraph, type ScaledSupergraph } from '../support/processes.js';
import { postGraphQL } from '../support/supergraph.js';
import { registerAt } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe, type TestSocket, type TestSubscription } from '../support/ws.js';

/**
 * Scaled out, as docker-compose or Kubernetes would run it: two routers and two replicas of
 * every subgraph, each its own process, behind HAProxy (clients → router frontend, routers →
 * one frontend per subgraph), on real Postgres and RabbitMQ. A mixed write load goes through
 * both routers while subscribers listen on both, and meanwhile the tasks replica seen relaying
 * its outbox is killed with SIGKILL. Afterwards: nothing lost or applied twice, every
 * subscriber received exactly the committed changes it may see (made through either router),
 * at most one relay per service ever held the relay lock at a time, and the surviving replica
 * took the relaying over within seconds.
 */
let sg: ScaledSupergraph;

/** lib/events/outbox.ts RELAY_LOCK: pg_try_advisory_xact_lock(7301995), objid in pg_locks. */
const RELAY_LOCK = 7_301_995;

interface Subscriber {
  id: string;
  router: number;
  socket: TestSocket;
  sub: TestSubscription<{ taskChanged: { kind: string; taskId: string } }>;
}
const subscribers: Subscriber[] = [];
const clients = new Map<string, postgres.Sql>();

beforeAll(async () => {
  // Registrations queue for the password hashing rather than being refused (RATE_LIMITED).
  sg = await startScaledSupergraph('scale', {
    replicas: 2,
    env: { MAX_QUEUED_PASSWORD_HASHES: '64' },
  });
  for (const [name, db] of Object.entries(sg.databases))
    clients.set(name, postgres(db.url, { max: 2, onnotice: () => {} }));
}, 400_000);

afterAll(async () => {
  for (const s of subscribers) await s.socket.dispose();
  for (const sql of clients.values()) await sql.end();
  await sg?.stop();
});

const db = (name: string) => clients.get(name)!;

/**
 * Which replicas (their PGAPPNAME) hold the relay lock of `name`'s database right now (advisory
 * locks are cluster-wide in pg_locks: other databases' relays take the same key; readers of
 * `publishedSince` hold it shared, the relay exclusive).
 */
const relayHolders = async (name: string) =>
  (
    await db(name)<{ app: string }[]>`
      select a.application_name as app from pg_locks l join pg_stat_activity a using (pid)
      where l.locktype = 'advisory' and l.objid = ${RELAY_LOCK} and l.granted
        and l.mode = 'ExclusiveLock'
        and l.database = (select oid from pg_database where datname = current_database())`
  ).map(r => r.app);

it('two routers and two replicas per subgraph behind HAProxy lose nothing, apply nothing twice and fail over', async () => {
  const [viaOne, viaTwo] = sg.routerUrls as [string, string];
  // The first account is the admin; the subscribers are ordinary users, half on each router.
  await waitFor(() => registerAt(sg.routerUrl, 'scale'), { timeoutMs: 30_000, intervalMs: 200 });
  for (let i = 0; i < 4; i++) {
    const router = i % 2;
    // Retried while the password hashing is busy (RATE_LIMITED) on this loaded machine.
    const user = await waitFor(() => registerAt(sg.routerUrls[router]!, 'scale'), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const socket = openSocket(sg.routerUrls[router]!, user.token);
    const sub = subscribe<Subscriber['sub']['received'][number]['data'] & object>(
      socket,
      `subscription { taskChanged { kind taskId } }`,
    ) as Subscriber['sub'];
    subscribers.push({ id: user.id, router, socket, sub });
  }

  // Who holds each relay lock, sampled throughout; more than one holder at once is a failure.
  const holders: Record<string, Set<string>> = {};
  const overlaps: string[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      for (const name of clients.keys()) {
        const now = await relayHolders(name).catch(() => []);
        if (now.length > 1) overlaps.push(`${name}: ${now.join(', ')}`);
        for (const app of now) (holders[name] ??= new Set()).add(app);
      }
      await new Promise(resolve => setTimeout(resolve, 5));
    }
  })();

  const registered: string[] = [];
  const assignments: { taskId: string; assigneeId: string; via: number }[] = [];
  let operations = 0;
  let retries = 0;
  const failures: string[] = [];
  let writing = true;
  const worker = async (n: number) => {
    // Each worker writes through one router; the subscribers it assigns to sit on both.
    const via = n % 2;
    const url = via === 0 ? viaOne : viaTwo;
    for (let i = 0; writing; i++) {
      const user = await registerAt(url, 'scale').catch((err: unknown) => {
        failures.push(String(err));
        return undefined;
      });
      if (!user) {
        await new Promise(resolve => setTimeout(resolve, 100));
        continue;
      }
      registered.push(user.id);
      operations += 1;
      const assigneeId = subscribers[(n + i) % subscribers.length]!.id;
      const key = `scale-${n}-${i}-${randomBytes(4).toString('hex')}`;
      let taskId: string | undefined;
      for (let attempt = 0; attempt < 30 && !taskId && writing; attempt++) {
        if (attempt > 0) await new Promise(resolve => setTimeout(resolve, 200));
        const created = await postGraphQL<{ createTask: { id: string } }>(
          url,
          `mutation ($a: ID!, $t: String!) { createTask(input: { title: $t, assigneeId: $a }) { id } }`,
          {
            token: user.token,
            variables: { a: assigneeId, t: `scale ${n}.${i}` },
            headers: { 'idempotency-key': key },
          },
        ).catch(() => undefined);
        taskId = created?.data?.createTask?.id;
        const code = created?.errors?.[0]?.extensions?.code;
        if (!taskId && created && code !== 'SERVICE_UNAVAILABLE' && created.status < 500) break;
        if (!taskId) retries += 1;
      }
      if (!taskId) continue;
      assignments.push({ taskId, assigneeId, via });
      operations += 1;
      const updated = await postGraphQL<{ updateTask: { id: string } }>(
        url,
        `mutation ($id: ID!) { updateTask(id: $id, input: { status: IN_PROGRESS }) { id } }`,
        { token: user.token, variables: { id: taskId } },
      ).catch(() => undefined);
      if (updated?.data?.updateTask) operations += 1;
    }
  };
  const workers = Array.from({ length: 4 }, (_, n) => worker(n));
  const progress = async (more: number) => {
    const target = operations + more;
    await waitFor(() => operations >= target, {
      timeoutMs: 180_000,
      intervalMs: 100,
      message: `${more} more operations (failed registrations: ${failures.slice(-3).join('; ')})`,
    });
  };

  await progress(30);
  // Both tasks replicas served writes, so either may relay; kill the one seen relaying last.
  const victimName = await waitFor(
    async () => (await relayHolders('tasks'))[0] ?? (holders.tasks?.size ? 'tasks-1' : undefined),
    { timeoutMs: 30_000, intervalMs: 5, message: 'no tasks relay seen' },
  );
  const victim = sg.subgraphs.tasks!.find(r => r.name === victimName)!;
  const survivor = sg.subgraphs.tasks!.find(r => r !== victim)!;
  const { killedAt } = (await db('tasks')<{ killedAt: Date }[]>`select now() as "killedAt"`)[0]!;
  victim.kill('SIGKILL');
  await victim.exited;
  const holdersBefore = new Set(holders.tasks);
  holders.tasks = new Set();
  await progress(30);
  writing = false;
  await Promise.all(workers);

  // Every outbox drained: everything committed was published.
  await waitFor(
    async () => {
      for (const name of clients.keys()) {
        const [left] = await db(name)<{ n: number }[]>`
          select count(*)::int as n from outbox where published_at is null`;
        if (left!.n > 0) return false;
      }
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 500, message: 'outboxes not drained' },
  );
  sampling = false;
  await sampler;

  // One relay at a time per service, the tasks relay moved to the survivor within seconds.
  expect(overlaps).toEqual([]);
  expect(holdersBefore.has(victim.name)).toBe(true);
  expect([...holders.tasks]).toEqual([survivor.name]);
  // After the kill no tasks event waited more than a few seconds for the surviving relay,
  // including those the victim committed and left unpublished.
  const [takeover] = await db('tasks')<{ n: number; worstMs: number }[]>`
    select count(*)::int as n, max(extract(epoch from
             (published_at - greatest(created_at, ${killedAt}::timestamptz))) * 1000)::float8 as "worstMs"
    from outbox where published_at > ${killedAt}::timestamptz`;
  expect(takeover!.n).toBeGreaterThan(0);
  expect(takeover!.worstMs).toBeLessThan(5_000);
  console.info(
    `relay holders before the kill ${[...holdersBefore].join(', ')}; after: ${survivor.name}; ` +
      `worst wait after the kill ${Math.round(takeover!.worstMs)} ms over ${takeover!.n} events; ${retries} retries`,
  );
  // Every event has its own place in the published order: nothing relayed twice. Places may
  // skip: a sequence is not transactional, so the pass the kill cut short (or one whose publish
  // failed) leaves the block it reserved unused, one batch at most here. Resuming streams ask for what came after a
  // place (lib/live.ts), so a skipped place loses nothing; more than one batch of them would.
  for (const name of clients.keys()) {
    const [seq] = await db(name)<{ n: number; placed: number; distinct: number; span: number }[]>`
      select count(*)::int as n, count(publish_seq)::int as placed,
             count(distinct publish_seq)::int as distinct,
             (max(publish_seq) - min(publish_seq) + 1)::int as span from outbox`;
    expect(seq!.placed, name).toBe(seq!.n);
    expect(seq!.distinct, name).toBe(seq!.n);
    expect(seq!.span - seq!.n, name).toBeLessThanOrEqual(OUTBOX_BATCH_SIZE);
  }

  // Every acknowledged registration has its stubs in both consumers.
  for (const name of ['tasks', 'notifications'] as const) {
    await waitFor(
      async () =>
        (await db(name)<{ id: string }[]>`select id from user_stubs where id = any(${registered})`)
          .length === registered.length,
      { timeoutMs: 60_000, intervalMs: 500, message: `user stubs missing in ${name}` },
    );
  }
  expect(
    await db('users')<{ id: string }[]>`select id from users where id = any(${registered})`,
  ).toHaveLength(registered.length);
  // Every acknowledged assignment notified its assignee exactly once.
  const taskIds = assignments.map(a => a.taskId);
  await waitFor(
    async () => {
      const notified = await db('notifications')<{ task_id: string; user_id: string; n: number }[]>`
        select task_id, user_id, count(*)::int as n from notifications
        where kind = 'TASK_ASSIGNED' and task_id = any(${taskIds}) group by task_id, user_id`;
      const byTask = new Map(notified.map(r => [r.task_id, r]));
      return assignments.every(a => byTask.get(a.taskId)?.user_id === a.assigneeId)
        ? notified
        : false;
    },
    { timeoutMs: 60_000, intervalMs: 500, message: 'assignments without their notification' },
  ).then(notified => expect(notified.filter(r => r.n !== 1)).toEqual([]));
  // No retried creation happened twice.
  expect(
    await db('tasks')<{ title: string }[]>`
      select title from tasks where title like 'scale %' group by title having count(*) > 1`,
    `${retries} retries`,
  ).toEqual([]);

  // Every subscriber received exactly the committed changes of the tasks assigned to it, in
  // order, including those made through the other router.
  const events = await db('tasks')<{ task_id: string; assignee_id: string | null }[]>`
    select envelope->'data'->'task'->>'id' as task_id,
           envelope->'data'->'task'->>'assigneeId' as assignee_id
    from outbox where type like 'task.%' order by publish_seq`;
  for (const s of subscribers) {
    const expected = events.filter(e => e.assignee_id === s.id).map(e => e.task_id);
    const fromOther = assignments.filter(a => a.assigneeId === s.id && a.via !== s.router);
    expect(fromOther.length, 'changes through the other router').toBeGreaterThan(0);
    const received = () => s.sub.received.map(r => r.data?.taskChanged.taskId);
    await waitFor(() => received().length >= expected.length, {
      timeoutMs: 30_000,
      message: `a subscriber did not receive all ${expected.length} changes`,
    });
    expect(s.sub.error).toBeUndefined();
    expect(received()).toEqual(expected);
  }

  // No process died that was not killed; HAProxy took the dead replica out of rotation.
  for (const role of [...sg.routers, ...Object.values(sg.subgraphs).flat()]) {
    if (role === victim) continue;
    expect(role.child.exitCode, `${role.name}:\n${role.output()}`).toBeNull();
  }
  expect(sg.haproxy.child.exitCode).toBeNull();
  expect(operations).toBeGreaterThanOrEqual(60);
}, 400_000);
