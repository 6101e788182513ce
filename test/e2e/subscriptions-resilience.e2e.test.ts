import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#lib/config.js';
import { createLogger } from '#lib/log.js';
import { runSubgraph } from '#lib/subgraph/run.js';
import { subgraphs } from '../../subgraphs/index.js';
import { tasks } from '../../subgraphs/tasks/src/subgraph.js';
import { startSupergraph } from '../../supergraph.js';
import { postGraphQL, startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { createTask } from '../support/tasks.js';
import { registerUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe, type TestSocket } from '../support/ws.js';

const TASK_CHANGED =
  'subscription { taskChanged { kind taskId task { title owner { displayName } } } }';
type TaskChanged = {
  taskChanged: {
    kind: string;
    taskId: string;
    task: { title: string; owner: { displayName: string } } | null;
  };
};

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('an upstream socket that drops', () => {
  it('is reconnected and its subscriptions resumed', async () => {
    const sg: TestSupergraph = await startTestSupergraph();
    cleanups.push(() => sg.stop());
    const alice = await registerUser(sg, 'alice', 'Alice');
    const socket: TestSocket = openSocket(sg.url, alice.accessToken);
    cleanups.push(() => socket.dispose());
    const sub = subscribe<TaskChanged>(socket, TASK_CHANGED);
    const first = sg.supergraph.subgraphs.tasks!;
    await waitFor(() => first.activeSubscriptions() === 1);

    // The tasks subgraph goes away (its sockets close) and comes back on the same port.
    await first.stop();
    const log = createLogger({ level: 'silent' });
    const second = await runSubgraph(tasks, {
      config: sg.config,
      bus: sg.bus,
      log,
      port: first.port,
      databaseUrl: sg.databaseUrls.tasks,
    });
    cleanups.push(() => second.stop());
    await waitFor(() => second.activeSubscriptions() === 1, {
      timeoutMs: 15_000,
      message: 'the router never resubscribed',
    });

    const task = await createTask(sg, alice, { title: 'After the restart' });
    await waitFor(() => sub.received.some(r => r.data?.taskChanged.taskId === task.id));
    const event = sub.received.find(r => r.data?.taskChanged.taskId === task.id)!;
    expect(event.data!.taskChanged).toEqual({
      kind: 'CREATED',
      taskId: task.id,
      task: { title: 'After the restart', owner: { displayName: 'Alice' } },
    });
    expect(sub.done).toBe(false);
  });
});

describe('the embedded one-process default', () => {
  // Three PGlite databases opened and migrated in this process take over 20 s on a busy
  // two-core machine: the default 30 s left no room.
  it('serves subscriptions on PGlite and the in-process bus', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'supergraph-embedded-'));
    const config = loadConfig(
      {
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        JWT_SECRET: randomBytes(32).toString('hex'),
        ROUTER_SECRET: randomBytes(32).toString('hex'),
      },
      subgraphs,
    );
    const supergraph = await startSupergraph({
      config,
      log: createLogger({ level: 'silent' }),
      ephemeralPorts: true,
    });
    cleanups.push(async () => {
      await supergraph.stop();
      await rm(dataDir, { recursive: true, force: true });
    });
    expect(supergraph.bus.transport).toBe('memory');
    const url = `${supergraph.url}/graphql`;
    const registered = await postGraphQL<{ register: { accessToken: string } }>(
      url,
      'mutation { register(input: { username: "embedded", email: "e@example.com", password: "password-1", displayName: "Em" }) { accessToken } }',
    );
    const token = registered.data!.register.accessToken;
    const socket = openSocket(url, token);
    cleanups.push(() => socket.dispose());
    const sub = subscribe<TaskChanged>(socket, TASK_CHANGED);
    await waitFor(() => supergraph.subgraphs.tasks!.activeSubscriptions() === 1);
    const created = await postGraphQL<{ createTask: { id: string } }>(
      url,
      'mutation { createTask(input: { title: "Embedded" }) { id } }',
      { token },
    );
    expect(created.errors).toBeUndefined();
    await waitFor(() => sub.received.length === 1);
    expect(sub.received[0]).toEqual({
      data: {
        taskChanged: {
          kind: 'CREATED',
          taskId: created.data!.createTask.id,
          task: { title: 'Embedded', owner: { displayName: 'Em' } },
        },
      },
    });
  }, 90_000);
});
