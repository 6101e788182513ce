import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEMO_PASSWORD,
  DEMO_TASKS,
  DEMO_USERS,
  SEED_STEPS,
  seedDemo,
  type SeedResult,
} from '../../scripts/seed.js';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { waitFor } from '../support/wait.js';

/** `npm run seed` against the whole supergraph (real Postgres and RabbitMQ), run twice. */

let sg: TestSupergraph;
let first: SeedResult;
let second: SeedResult;
const steps: string[] = [];

beforeAll(async () => {
  sg = await startTestSupergraph();
  first = await seedDemo({ url: sg.url, waitMs: 20_000, onStep: s => steps.push(s) });
  second = await seedDemo({ url: sg.url, waitMs: 20_000 });
}, 90_000);
afterAll(async () => {
  await sg?.stop();
});

const login = async (username: string) => {
  const res = await sg.gql<{ login: { accessToken: string } }>(
    'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
    { variables: { input: { login: username, password: DEMO_PASSWORD } } },
  );
  expect(res.errors).toBeUndefined();
  return res.data!.login.accessToken;
};

describe('seedDemo', () => {
  it('registers alice, bob and carol on an empty database; alice, the first, is ADMIN', () => {
    expect(first.users.map(u => [u.username, u.role, u.action])).toEqual([
      ['alice', 'ADMIN', 'registered'],
      ['bob', 'USER', 'registered'],
      ['carol', 'USER', 'registered'],
    ]);
    expect(first.tasks.every(t => t.action === 'created')).toBe(true);
    expect(steps).toHaveLength(SEED_STEPS);
  });

  it('a second run logs in and creates nothing', () => {
    expect(second.users.map(u => u.action)).toEqual(['logged in', 'logged in', 'logged in']);
    expect(second.users.map(u => u.id)).toEqual(first.users.map(u => u.id));
    expect(second.tasks.map(t => t.action)).toEqual(DEMO_TASKS.map(() => 'already there'));
    expect(second.tasks.map(t => t.id)).toEqual(first.tasks.map(t => t.id));
  });

  it('leaves exactly the demo users and tasks, assigned as planned', async () => {
    const token = await login('alice');
    const res = await sg.gql<{
      users: { totalCount: number };
      tasks: {
        totalCount: number;
        edges: Array<{
          node: {
            title: string;
            owner: { username: string };
            assignee: { username: string } | null;
          };
        }>;
      };
    }>(
      '{ users { totalCount } tasks(first: 100) { totalCount edges { node { title owner { username } assignee { username } } } } }',
      { token },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.users.totalCount).toBe(DEMO_USERS.length);
    expect(res.data!.tasks.totalCount).toBe(DEMO_TASKS.length);
    const byTitle = new Map(res.data!.tasks.edges.map(e => [e.node.title, e.node]));
    for (const demo of DEMO_TASKS) {
      const task = byTitle.get(demo.title);
      expect(task?.owner.username).toBe(demo.owner);
      expect(task?.assignee?.username ?? null).toBe(demo.assignee ?? demo.assignLater ?? null);
    }
  });

  it('the assignments reach the assignees as notifications', async () => {
    const token = await login('bob');
    const expected = DEMO_TASKS.filter(t => (t.assignee ?? t.assignLater) === 'bob').length;
    const count = await waitFor(async () => {
      const res = await sg.gql<{ unreadNotificationCount: number }>('{ unreadNotificationCount }', {
        token,
      });
      return res.data?.unreadNotificationCount === expected ? expected : false;
    });
    expect(count).toBe(expected);
  });

  it('gives up with the reason when no router answers', async () => {
    await expect(seedDemo({ url: 'http://127.0.0.1:9/graphql', waitMs: 300 })).rejects.toThrow(
      /router not reachable/,
    );
  });
});
