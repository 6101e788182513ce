import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { createTask } from '../support/tasks.js';
import { proxyInFront, type TcpProxy } from '../support/tcp-proxy.js';
import { registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';

/**
 * The tasks database goes away under load (its connections reset, new ones refused) and
 * comes back: the tasks service stays up, says it is not ready meanwhile, answers every
 * request with an error instead of a dead socket, and is ready again by itself.
 */
let sg: TestSupergraph;
let proxy: TcpProxy;
let alice: TestUser;

beforeAll(async () => {
  sg = await startTestSupergraph({
    databaseUrl: async (name, url) => {
      if (name !== 'tasks') return url;
      const proxied = await proxyInFront(url);
      proxy = proxied.proxy;
      return proxied.url;
    },
  });
  alice = await registerUser(sg, 'blip');
});
afterAll(async () => {
  await sg?.stop();
  await proxy?.stop();
});

const tasksReady = async () => (await fetch(`${sg.supergraph.subgraphs.tasks!.url}/ready`)).status;

it('survives its database going away mid-request and recovers by itself', async () => {
  await createTask(sg, alice, { title: 'Before the blip' });
  const inFlight = Array.from({ length: 12 }, (_, i) =>
    i % 2 === 0
      ? sg.gql('{ tasks(first: 50) { totalCount edges { node { id title } } } }', {
          token: alice.accessToken,
        })
      : sg.gql(`mutation { createTask(input: { title: "During ${i}" }) { id } }`, {
          token: alice.accessToken,
        }),
  );
  await proxy.stop();
  // Every request gets an answer: data from before the cut, or an error with a code.
  for (const res of await Promise.all(inFlight)) {
    if (res.errors) {
      expect(res.errors[0]?.extensions?.code).toEqual(expect.any(String));
      expect(res.errors[0]?.message).not.toMatch(/ECONN|socket|postgres/i);
    } else {
      expect(res.data).toBeTruthy();
    }
  }
  await waitFor(async () => (await tasksReady()) === 503, { message: 'tasks never went unready' });
  const during = await sg.gql('{ tasks { totalCount } }', { token: alice.accessToken });
  expect(during.errors?.[0]?.extensions?.code).toEqual(expect.any(String));

  await proxy.start();
  await waitFor(async () => (await tasksReady()) === 200, {
    timeoutMs: 20_000,
    message: 'tasks never became ready again',
  });
  const after = await createTask(sg, alice, { title: 'After the blip' });
  expect(after.title).toBe('After the blip');
});
