import { randomUUID } from 'node:crypto';
import type postgres from 'postgres';
import { issueAccessToken } from '#lib/auth/jwt.js';

/**
 * The fan-out of ordinary users (not admins): each subscriber owns a few tasks, each
 * assigned to one of the next users, so it sees its own tasks plus a few shared with a
 * neighbour, and nobody else's. Every change is expected at exactly two subscribers
 * (owner and assignee); the load process checks each subscriber got exactly its own.
 * No side effects on import.
 */

type JwtConfig = Parameters<typeof issueAccessToken>[2];

export interface PrivateTask {
  id: string;
  owner: number;
  assignee: number;
}

export interface PrivateFanout {
  /** Subscriber i's token (a USER, user i). */
  tokens: string[];
  /** Every seeded task, `tasksEach` per owner in order; owner i's first is its warm-up task. */
  tasks: PrivateTask[];
}

/**
 * `count` users written straight into the users and tasks databases (registration through
 * the API hashes a password each: minutes for a thousand), `tasksEach` tasks each, task j
 * of user i assigned to user i + j + 1. Tokens minted as the users service issues them.
 */
export async function seedPrivateFanout(options: {
  usersDb: postgres.Sql;
  tasksDb: postgres.Sql;
  jwt: JwtConfig;
  count: number;
  tasksEach: number;
}): Promise<PrivateFanout> {
  const { usersDb, tasksDb, count, tasksEach } = options;
  const tag = randomUUID().slice(0, 6);
  const people = Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    username: `fan${i}_${tag}`,
    display_name: `Fan ${i}`,
  }));
  for (let from = 0; from < count; from += 500) {
    const slice = people.slice(from, from + 500);
    await usersDb`insert into users ${usersDb(
      slice.map(p => ({
        ...p,
        email: `${p.username}@example.com`,
        password_hash: 'bench-seeded-no-login',
      })),
    )}`;
    await tasksDb`insert into user_stubs ${tasksDb(
      slice.map(p => ({ ...p, role: 'USER', synced_at: new Date() })),
    )}`;
  }
  const tasks: PrivateTask[] = [];
  const rows: Array<Record<string, string>> = [];
  for (let i = 0; i < count; i++)
    for (let j = 0; j < tasksEach; j++) {
      const assignee = (i + j + 1) % count;
      const id = randomUUID();
      tasks.push({ id, owner: i, assignee });
      rows.push({
        id,
        title: `Fan task ${i}.${j}`,
        owner_id: people[i]!.id,
        assignee_id: people[assignee]!.id,
      });
    }
  for (let from = 0; from < rows.length; from += 1000)
    await tasksDb`insert into tasks ${tasksDb(rows.slice(from, from + 1000))}`;
  const tokens = people.map(
    p =>
      issueAccessToken({ id: p.id, role: 'USER', username: p.username }, randomUUID(), options.jwt)
        .token,
  );
  return { tokens, tasks };
}
