import { OperationTypeNode } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  ApolloClient,
  ApolloLink,
  CombinedGraphQLErrors,
  gql,
  HttpLink,
  InMemoryCache,
} from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { createTask, tasksKnow } from '../support/tasks.js';
import { registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';

/**
 * The clients people bring, unmodified, against the router: Apollo Client 4 over HTTP alone
 * (queries, mutations, multipart subscriptions) and with graphql-ws for subscriptions, and
 * graphql-sse's client (distinct connections). Each one registers or signs in, reads across
 * subgraphs and receives a federated event.
 */
const TASK_CHANGED = gql`
  subscription TaskChanged {
    taskChanged {
      kind
      task {
        title
        owner {
          displayName
        }
      }
    }
  }
`;
type TaskChanged = {
  taskChanged: { kind: string; task: { title: string; owner: { displayName: string } } | null };
};

let sg: TestSupergraph;
let alice: TestUser, bob: TestUser;
const tasks = () => sg.supergraph.subgraphs.tasks!;
const titles = (events: Array<TaskChanged | undefined>) =>
  events.map(e => e?.taskChanged.task?.title);

beforeAll(async () => {
  sg = await startTestSupergraph();
  alice = await registerUser(sg, 'alice', 'Alice');
  bob = await registerUser(sg, 'bob', 'Bob');
  await tasksKnow(sg, alice, [bob]);
});
afterAll(async () => {
  await sg?.stop();
});

/** Apollo Client over HTTP alone, as `token`'s holder (or anonymous). */
const httpClient = (token?: string) =>
  new ApolloClient({
    link: new HttpLink({
      uri: sg.url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    }),
    cache: new InMemoryCache(),
  });

/** Subscribes with Apollo Client and records the data of every event. */
function record(client: ApolloClient, query = TASK_CHANGED) {
  const events: Array<TaskChanged | undefined> = [];
  const errors: unknown[] = [];
  const subscription = client.subscribe<TaskChanged>({ query }).subscribe({
    next: result => {
      if (result.error) errors.push(result.error);
      else events.push(result.data);
    },
    error: err => errors.push(err),
  });
  return { events, errors, stop: () => subscription.unsubscribe() };
}

describe('Apollo Client 4 with HttpLink only', () => {
  it('registers, signs in and reads across subgraphs over HTTP', async () => {
    const anonymous = httpClient();
    const username = `ac_${Date.now().toString(36)}`;
    const registered = await anonymous.mutate<{
      register: { accessToken: string; user: { username: string } };
    }>({
      mutation: gql`
        mutation Register($input: RegisterInput!) {
          register(input: $input) {
            accessToken
            user {
              id
              username
            }
          }
        }
      `,
      variables: {
        input: { username, email: `${username}@example.com`, password: 'pw-secret-123' },
      },
    });
    expect(registered.data?.register.user.username).toBe(username);
    const signedIn = await anonymous.mutate<{ login: { accessToken: string } }>({
      mutation: gql`
        mutation Login($input: LoginInput!) {
          login(input: $input) {
            accessToken
          }
        }
      `,
      variables: { input: { login: username, password: 'pw-secret-123' } },
    });
    const client = httpClient(signedIn.data!.login.accessToken);
    await client.mutate({
      mutation: gql`
        mutation Create($input: CreateTaskInput!) {
          createTask(input: $input) {
            id
          }
        }
      `,
      variables: { input: { title: 'from Apollo Client' } },
    });
    const me = await client.query<{
      me: {
        username: string;
        tasks: { edges: Array<{ node: { title: string; owner: { username: string } } }> };
        unreadNotificationCount: number;
      };
    }>({
      query: gql`
        query MyWork {
          me {
            username
            tasks(first: 5) {
              edges {
                node {
                  id
                  title
                  owner {
                    id
                    username
                  }
                }
              }
            }
            unreadNotificationCount
          }
        }
      `,
    });
    expect(me.data?.me).toMatchObject({
      username,
      tasks: { edges: [{ node: { title: 'from Apollo Client', owner: { username } } }] },
      unreadNotificationCount: 0,
    });
  });

  it('receives a subscription over multipart HTTP; unsubscribing ends it upstream', async () => {
    const client = httpClient(alice.accessToken);
    const before = tasks().activeSubscriptions();
    const sub = record(client);
    await waitFor(() => tasks().activeSubscriptions() === before + 1);
    await createTask(sg, alice, { title: 'multipart for Apollo Client' });
    await waitFor(() => titles(sub.events).includes('multipart for Apollo Client'));
    expect(
      sub.events.find(e => e?.taskChanged.task?.title === 'multipart for Apollo Client'),
    ).toEqual({
      taskChanged: {
        __typename: 'TaskEvent',
        kind: 'CREATED',
        task: {
          __typename: 'Task',
          title: 'multipart for Apollo Client',
          owner: { __typename: 'User', displayName: 'Alice' },
        },
      },
    });
    expect(sub.errors).toEqual([]);
    sub.stop();
    await waitFor(() => tasks().activeSubscriptions() === before, { timeoutMs: 2_000 });
  });

  it('surfaces a refused subscription as GraphQL errors with their code', async () => {
    const client = httpClient(alice.accessToken);
    const sub = record(
      client,
      gql`
        subscription Expensive {
          taskChanged {
            task {
              owner {
                tasks(first: 100) {
                  edges {
                    node {
                      owner {
                        tasks(first: 100) {
                          edges {
                            node {
                              id
                            }
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      `,
    );
    const [error] = await waitFor(() => sub.errors.length > 0 && sub.errors);
    expect(CombinedGraphQLErrors.is(error)).toBe(true);
    expect((error as CombinedGraphQLErrors).errors[0]?.extensions?.code).toBe(
      'COST_ESTIMATED_TOO_EXPENSIVE',
    );
    sub.stop();
  });
});

describe('Apollo Client 4 with GraphQLWsLink for subscriptions', () => {
  it('sends queries over HTTP and subscriptions over graphql-ws, authenticated in connection_init', async () => {
    const authorization = `Bearer ${bob.accessToken}`;
    const ws = createWsClient({
      url: sg.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization },
      retryAttempts: 0,
    });
    const client = new ApolloClient({
      link: ApolloLink.split(
        ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
        new GraphQLWsLink(ws),
        new HttpLink({ uri: sg.url, headers: { authorization } }),
      ),
      cache: new InMemoryCache(),
    });
    try {
      const me = await client.query<{ me: { username: string } }>({
        query: gql`
          {
            me {
              id
              username
            }
          }
        `,
      });
      expect(me.data?.me.username).toBe(bob.username);
      const before = tasks().activeSubscriptions();
      const sub = record(client);
      await waitFor(() => tasks().activeSubscriptions() === before + 1);
      await createTask(sg, bob, { title: 'over graphql-ws for Apollo Client' });
      await waitFor(() => titles(sub.events).includes('over graphql-ws for Apollo Client'));
      expect(sub.errors).toEqual([]);
      sub.stop();
      await waitFor(() => tasks().activeSubscriptions() === before, { timeoutMs: 2_000 });
    } finally {
      await ws.dispose();
    }
  });
});

describe("graphql-sse's client (distinct connections)", () => {
  const sseClient = (token: string) =>
    createSseClient({
      url: sg.url,
      headers: { authorization: `Bearer ${token}` },
      singleConnection: false,
      retryAttempts: 0,
    });

  it('receives federated events; completing the subscription ends it upstream', async () => {
    const client = sseClient(alice.accessToken);
    const events: TaskChanged[] = [];
    let failed: unknown;
    const before = tasks().activeSubscriptions();
    const stop = client.subscribe<TaskChanged>(
      { query: 'subscription { taskChanged { kind task { title owner { displayName } } } }' },
      {
        next: value => void (value.data && events.push(value.data)),
        error: err => void (failed = err),
        complete: () => {},
      },
    );
    try {
      await waitFor(() => tasks().activeSubscriptions() === before + 1);
      await createTask(sg, alice, { title: 'over SSE' });
      await waitFor(() => titles(events).includes('over SSE'));
      expect(events.find(e => e.taskChanged.task?.title === 'over SSE')).toEqual({
        taskChanged: {
          kind: 'CREATED',
          task: { title: 'over SSE', owner: { displayName: 'Alice' } },
        },
      });
      expect(failed).toBeUndefined();
    } finally {
      stop();
      client.dispose();
    }
    await waitFor(() => tasks().activeSubscriptions() === before, { timeoutMs: 2_000 });
  });

  it('runs a query and reports a refusal as an error', async () => {
    const client = sseClient(alice.accessToken);
    try {
      const results: unknown[] = [];
      for await (const result of client.iterate({ query: '{ me { username } }' })) {
        results.push(result);
      }
      expect(results).toEqual([{ data: { me: { username: alice.username } } }]);
      const refused = client.iterate({ query: 'subscription { taskChanged { nope } }' });
      await expect(refused.next()).rejects.toThrow(/400/);
    } finally {
      client.dispose();
    }
  });
});
