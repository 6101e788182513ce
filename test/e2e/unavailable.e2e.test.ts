import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { createTask } from '../support/tasks.js';
import { proxyInFront, type TcpProxy } from '../support/tcp-proxy.js';
import { errorOf, registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';

/*
 * When a subgraph's database stops answering, or a subgraph is gone, clients are told soon and
 * plainly that it is transient (SERVICE_UNAVAILABLE, retryAfter; HTTP 503 when nothing of the
 * operation could run), keep what the other subgraphs answered, and never wait for minutes.
 */

let sg: TestSupergraph;
let usersDb: TcpProxy;
let alice: TestUser;

beforeAll(async () => {
  sg = await startTestSupergraph({
    // The router would wait 60 s for a subgraph: only the database bound can answer sooner.
    env: { SUBGRAPH_TIMEOUT_MS: '60000' },
    databaseUrl: async (name, url) => {
      if (name !== 'users') return url;
      const proxied = await proxyInFront(url);
      usersDb = proxied.proxy;
      return proxied.url;
    },
  });
  alice = await registerUser(sg, 'unavail');
}, 120_000);
afterAll(async () => {
  usersDb?.resume();
  await sg?.stop();
  await usersDb?.stop();
});

/** `gql`, or a failure if it takes longer than `ms` (the test must not hang on a bug). */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a database that stops answering', () => {
  it('gets a transient error within seconds, with the other subgraphs’ data kept', async () => {
    const task = await createTask(sg, alice, { title: 'Kept' });
    usersDb.stall();
    try {
      const me = await within(15_000, sg.gql('{ me { id } }', { token: alice.accessToken }));
      expect(me.status).toBe(503);
      expect(me.errors?.[0]?.extensions).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        retryAfter: expect.any(Number),
      });
      expect(me.errors?.[0]?.message).not.toMatch(/postgres|ECONN|timeout|users/i);

      // A mutation whose own change committed answers with its data; only the part that
      // needed users carries the error.
      const assigned = await within(
        15_000,
        sg.gql<{
          assignTask: { id: string; title: string; assignee: { username: string } | null };
        }>(
          'mutation ($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id title assignee { username } } }',
          { token: alice.accessToken, variables: { id: task.id, a: alice.id } },
        ),
      );
      expect(assigned.status).toBe(200);
      expect(assigned.data?.assignTask).toMatchObject({
        id: task.id,
        title: 'Kept',
        assignee: null,
      });
      expect(assigned.errors?.[0]).toMatchObject({
        path: ['assignTask', 'assignee'],
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      });
    } finally {
      usersDb.resume();
    }
    await waitFor(
      async () => (await sg.gql('{ me { id } }', { token: alice.accessToken })).status === 200,
      {
        timeoutMs: 20_000,
      },
    );
  }, 60_000);
});

describe('a subgraph that is gone', () => {
  it('is SERVICE_UNAVAILABLE (503 when nothing ran), and the rest of the answer stays', async () => {
    await createTask(sg, alice, { title: 'Owned while users is away' });
    await sg.supergraph.subgraphs.users!.stop();
    const me = await within(15_000, sg.gql('{ me { id } }', { token: alice.accessToken }));
    expect(me.status).toBe(503);
    expect(errorOf(me)?.code).toBe('SERVICE_UNAVAILABLE');
    const page = await within(
      15_000,
      sg.gql<{ tasks: { edges: Array<{ node: { title: string } }> } }>(
        '{ tasks(first: 10) { edges { node { title assignee { username } } } } }',
        { token: alice.accessToken },
      ),
    );
    expect(page.status).toBe(200);
    expect(page.data?.tasks.edges.map(e => e.node.title)).toContain('Owned while users is away');
    expect(page.errors?.every(e => e.extensions?.code === 'SERVICE_UNAVAILABLE')).toBe(true);
  }, 60_000);
});
