import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeaderMap, type HTTPGraphQLResponse } from '@apollo/server';
import { idempotentExecution, joinable, type KeyedRequest } from '#lib/subgraph/idempotency.js';
import { openTasksDb, type Driver, type OpenedTasksDb } from './__fixtures__/db.js';
import { idempotencyKeys, tasks as tasksTable, type schema } from './db/schema.js';
import { createTask } from './tasks.js';

/**
 * The generic mechanism of lib/subgraph/idempotency.ts under the tasks service's own
 * `createTask`, unchanged, on both drivers (PGlite is `npm start`'s): the resolver's
 * transaction joins the request's, and the key decides what runs.
 */

const json = (body: unknown): HTTPGraphQLResponse => ({
  status: 200,
  headers: new HeaderMap([['content-type', 'application/json']]),
  body: { kind: 'complete', string: JSON.stringify(body) },
});
const bodyOf = (response: HTTPGraphQLResponse) =>
  JSON.parse(response.body.kind === 'complete' ? response.body.string : '') as {
    data?: { createTask?: { id: string } } | null;
    errors?: Array<{ extensions?: { code?: string; field?: string } }>;
  };

describe.each<Driver>(['postgres', 'pglite'])('idempotent execution on %s', driver => {
  let opened: OpenedTasksDb;
  let joined: ReturnType<typeof joinable<typeof schema>>;
  let idempotency: ReturnType<typeof idempotentExecution<typeof schema>>;
  let commits = 0;
  const viewer = { id: randomUUID(), admin: false };

  beforeAll(async () => {
    opened = await openTasksDb(driver);
    joined = joinable(opened.db);
    idempotency = idempotentExecution({
      db: opened.db,
      joined,
      retentionMs: 60 * 60_000,
      onCommit: () => void (commits += 1),
      log: pino({ level: 'silent' }),
    });
  }, 60_000);
  afterAll(async () => {
    await opened?.close();
  });

  /** `createTask` as its resolver runs it, on the joinable handle, answered as JSON. */
  const createAs = (title: string) => async () => {
    const task = await createTask({ db: joined.db, onOutboxWrite: () => {} }, viewer, { title });
    return json({ data: { createTask: { id: task.id } } });
  };
  const request = (key: string, title: string): KeyedRequest => ({
    viewer: viewer.id,
    key,
    body: {
      query: 'mutation ($t: String!) { createTask(title: $t) { id } }',
      variables: { t: title },
    },
  });
  const count = async (title: string) =>
    (await opened.db.select().from(tasksTable).where(eq(tasksTable.title, title))).length;

  it('runs once under a key, and answers a repeat from the record', async () => {
    const title = `once ${randomUUID()}`;
    const before = commits;
    const first = await idempotency.run(request('1:k1', title), createAs(title));
    const again = await idempotency.run(request('1:k1', title), createAs(title));
    expect(bodyOf(again)).toEqual(bodyOf(first));
    expect(await count(title)).toBe(1);
    expect(commits).toBe(before + 2);
  });

  it('refuses the key with another request, running nothing', async () => {
    const title = `first ${randomUUID()}`;
    await idempotency.run(request('1:k2', title), createAs(title));
    const other = `other ${randomUUID()}`;
    const refused = await idempotency.run(request('1:k2', other), createAs(other));
    expect(bodyOf(refused).errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'idempotency-key',
    });
    expect(await count(other)).toBe(0);
  });

  it('rolls back a transient failure with no data, the resolver’s write included', async () => {
    const title = `transient ${randomUUID()}`;
    const failing = async () => {
      await createAs(title)();
      return json({ data: null, errors: [{ extensions: { code: 'SERVICE_UNAVAILABLE' } }] });
    };
    await idempotency.run(request('1:k3', title), failing);
    expect(await count(title)).toBe(0);
    const keys = await opened.db
      .select()
      .from(idempotencyKeys)
      .where(eq(idempotencyKeys.key, '1:k3'));
    expect(keys).toHaveLength(0);
    // The retry runs afresh.
    await idempotency.run(request('1:k3', title), createAs(title));
    expect(await count(title)).toBe(1);
  });

  it('never answers "done" for a request whose failed statement doomed its transaction', async () => {
    const refusedTitle = `doomed refusal ${randomUUID()}`;
    const refusal = async () => {
      await createAs(refusedTitle)();
      // A statement that fails outside a savepoint of its own: nothing will commit.
      await joined.db.execute(sql`select 1 / 0`).catch(() => {});
      return json({ data: null, errors: [{ extensions: { code: 'CONFLICT' } }] });
    };
    const refused = await idempotency.run(request('1:k4', refusedTitle), refusal);
    expect(bodyOf(refused).errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(await count(refusedTitle)).toBe(0);

    const doneTitle = `doomed success ${randomUUID()}`;
    const success = async () => {
      const answer = await createAs(doneTitle)();
      await joined.db.execute(sql`select 1 / 0`).catch(() => {});
      return answer;
    };
    await expect(idempotency.run(request('1:k5', doneTitle), success)).rejects.toThrow();
    expect(await count(doneTitle)).toBe(0);
  });

  it('leaves writes outside a keyed request on the plain database', async () => {
    const title = `plain ${randomUUID()}`;
    await createAs(title)();
    expect(await count(title)).toBe(1);
  });

  it('prunes keys past their retention, and only those', async () => {
    const title = `old ${randomUUID()}`;
    await idempotency.run(request('1:old', title), createAs(title));
    await idempotency.run(request('1:new', title), createAs(title));
    await opened.db
      .update(idempotencyKeys)
      .set({ createdAt: sql`now() - interval '2 hours'` })
      .where(eq(idempotencyKeys.key, '1:old'));
    expect(await idempotency.prune()).toBe(1);
    const left = await opened.db.select({ key: idempotencyKeys.key }).from(idempotencyKeys);
    expect(left.map(k => k.key)).toContain('1:new');
    expect(left.map(k => k.key)).not.toContain('1:old');
  });
});
