import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyToBroker } from '../support/amqp.js';
import {
  postGraphQL,
  startRouterReplica,
  startTestSupergraph,
  type TestSupergraph,
} from '../support/supergraph.js';
import { createTask } from '../support/tasks.js';
import { errorOf, registerUser, type TestUser } from '../support/users.js';
import { waitFor } from '../support/wait.js';
import { openSocket, subscribe } from '../support/ws.js';

/*
 * Revocation: what ends a session ends its access tokens at every router replica within
 * moments, not at the token's `exp` 15 minutes later — over HTTP and over WebSocket.
 */

let sg: TestSupergraph;
let replica: Awaited<ReturnType<typeof startRouterReplica>>;
let admin: TestUser;
beforeAll(async () => {
  sg = await startTestSupergraph();
  admin = await registerUser(sg, 'revadmin'); // the first user: ADMIN
  replica = await startRouterReplica(sg);
}, 120_000);
afterAll(async () => {
  await replica?.stop();
  await sg?.stop();
});

const ME = '{ me { id role } }';
/** The status and code `token` gets for `{ me }` from the router at `url`. */
const meWith = async (token: string, url = sg.url) => {
  const res = await postGraphQL<{ me: { id: string; role: string } | null }>(url, ME, { token });
  return { status: res.status, code: errorOf(res)?.code, me: res.data?.me ?? null };
};
/** Waits until `token` is refused with 401 at the router at `url`. */
const refused = (token: string, url = sg.url) =>
  waitFor(async () => (await meWith(token, url)).status === 401, {
    timeoutMs: 5_000,
    message: `token still accepted at ${url}`,
  });

const login = async (user: TestUser, password = user.password) => {
  const res = await sg.gql<{ login: { accessToken: string; refreshToken: string } }>(
    'mutation ($i: LoginInput!) { login(input: $i) { accessToken refreshToken } }',
    { variables: { i: { login: user.username, password } } },
  );
  expect(res.errors).toBeUndefined();
  return res.data!.login;
};
const refresh = (refreshToken: string) =>
  sg.gql<{ refreshToken: { accessToken: string; refreshToken: string } }>(
    'mutation ($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }',
    { variables: { t: refreshToken } },
  );

describe('logout', () => {
  it('ends that session’s access token on every replica; the user’s other session lives on', async () => {
    const user = await registerUser(sg, 'revlogout');
    const other = await login(user);
    expect((await meWith(user.accessToken, replica.url)).me?.id).toBe(user.id);
    const out = await sg.gql<{ logout: boolean }>(
      'mutation ($t: String!) { logout(refreshToken: $t) }',
      { token: user.accessToken, variables: { t: user.refreshToken } },
    );
    expect(out.data?.logout).toBe(true);
    await refused(user.accessToken);
    await refused(user.accessToken, replica.url);
    expect(await meWith(user.accessToken)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect((await meWith(other.accessToken)).me?.id).toBe(user.id);
    expect((await meWith(other.accessToken, replica.url)).me?.id).toBe(user.id);
  });

  it('closes the sockets of that session with 4403, ending their subscriptions here and upstream', async () => {
    const user = await registerUser(sg, 'revsocket');
    const other = await login(user);
    const tasks = sg.supergraph.subgraphs.tasks!;
    const before = tasks.activeSubscriptions();
    const ended = openSocket(sg.url, user.accessToken);
    const onReplica = openSocket(replica.url, user.accessToken);
    const kept = openSocket(sg.url, other.accessToken);
    const query = 'subscription { taskChanged { kind taskId } }';
    const subs = [ended, onReplica, kept].map(socket => subscribe(socket, query));
    // One upstream subscription per router: the two sessions of one user on the same router
    // share theirs (the subgraph answers the same for both).
    await waitFor(() => tasks.activeSubscriptions() === before + 2);
    await sg.gql('mutation ($t: String!) { logout(refreshToken: $t) }', {
      token: user.accessToken,
      variables: { t: user.refreshToken },
    });
    expect(await ended.closed).toBe(4403);
    expect(await onReplica.closed).toBe(4403);
    // And the revoked token opens no new socket.
    expect(await openSocket(sg.url, user.accessToken).closed).toBe(4403);
    await waitFor(() => tasks.activeSubscriptions() === before + 1);
    // The other session still hears its changes.
    await createTask(sg, { ...user, accessToken: other.accessToken }, { title: 'Still heard' });
    await waitFor(() => subs[2]!.received.length >= 1);
    expect(subs[2]!.done).toBe(false);
    await kept.dispose();
  });
});

describe('changePassword', () => {
  it('ends every access token issued so far; the viewer’s refresh token gets a new one', async () => {
    const user = await registerUser(sg, 'revpw');
    const other = await login(user);
    const ok = await sg.gql<{ changePassword: boolean }>(
      'mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }',
      { token: user.accessToken, variables: { c: user.password, n: 'a brand new password' } },
    );
    expect(ok.data?.changePassword).toBe(true);
    await refused(user.accessToken);
    await refused(other.accessToken, replica.url);
    // The viewer's own session goes on with a refresh; the other session is over.
    const renewed = await refresh(user.refreshToken);
    expect(renewed.errors).toBeUndefined();
    expect((await meWith(renewed.data!.refreshToken.accessToken)).me?.id).toBe(user.id);
    expect(errorOf(await refresh(other.refreshToken))?.code).toBe('UNAUTHENTICATED');
  });
});

describe('setUserRole', () => {
  it('ends a demoted admin’s token and socket at once; a refresh carries the new role', async () => {
    const second = await registerUser(sg, 'revsecond');
    const promote = (role: 'ADMIN' | 'USER') =>
      sg.gql('mutation ($id: ID!, $r: Role!) { setUserRole(userId: $id, role: $r) { role } }', {
        token: admin.accessToken,
        variables: { id: second.id, r: role },
      });
    expect((await promote('ADMIN')).errors).toBeUndefined();
    await refused(second.accessToken); // its USER token is over too
    const asAdmin = (await refresh(second.refreshToken)).data!.refreshToken;
    expect((await meWith(asAdmin.accessToken)).me?.role).toBe('ADMIN');
    const emailOfAdmin = async (token: string) =>
      (
        await sg.gql<{ user: { email: string | null } | null }>(
          'query ($id: ID!) { user(id: $id) { email } }',
          { token, variables: { id: admin.id } },
        )
      ).data?.user?.email;
    expect(await emailOfAdmin(asAdmin.accessToken)).toBe(admin.email);
    const tasks = sg.supergraph.subgraphs.tasks!;
    const before = tasks.activeSubscriptions();
    const socket = openSocket(sg.url, asAdmin.accessToken);
    subscribe(socket, 'subscription { taskChanged { kind taskId } }');
    await waitFor(() => tasks.activeSubscriptions() === before + 1);

    expect((await promote('USER')).errors).toBeUndefined();
    expect(await socket.closed).toBe(4403);
    await waitFor(() => tasks.activeSubscriptions() === before);
    await refused(asAdmin.accessToken);
    await refused(asAdmin.accessToken, replica.url);
    const asUser = (await refresh(asAdmin.refreshToken)).data!.refreshToken;
    expect((await meWith(asUser.accessToken)).me?.role).toBe('USER');
    expect(await emailOfAdmin(asUser.accessToken)).toBeNull();
    const users = await sg.gql('{ users(first: 1) { totalCount } }', { token: asUser.accessToken });
    expect(errorOf(users)?.code).toBe('FORBIDDEN');
  });
});

describe('deleteAccount', () => {
  it('ends the deleted user’s tokens everywhere', async () => {
    const user = await registerUser(sg, 'revgone');
    const other = await login(user);
    const res = await sg.gql<{ deleteAccount: boolean }>(
      'mutation ($p: String!) { deleteAccount(password: $p) }',
      { token: user.accessToken, variables: { p: user.password } },
    );
    expect(res.data?.deleteAccount).toBe(true);
    await refused(other.accessToken);
    await refused(user.accessToken, replica.url);
    const read = await postGraphQL(sg.url, 'query ($id: ID!) { user(id: $id) { id } }', {
      token: other.accessToken,
      variables: { id: admin.id },
    });
    expect(read.status).toBe(401);
  });
});

describe('a router that starts after the revocation', () => {
  it('refuses the revoked token too (it reads the recent revocations from users)', async () => {
    const user = await registerUser(sg, 'revlate');
    await sg.gql('mutation ($t: String!) { logout(refreshToken: $t) }', {
      token: user.accessToken,
      variables: { t: user.refreshToken },
    });
    await refused(user.accessToken);
    const late = await startRouterReplica(sg);
    try {
      expect(await meWith(user.accessToken, late.url)).toMatchObject({
        status: 401,
        code: 'UNAUTHENTICATED',
      });
      expect((await meWith(admin.accessToken, late.url)).me?.id).toBe(admin.id);
    } finally {
      await late.stop();
    }
  });

  it('refuses it within seconds even while cut off from the broker, and after reconnecting', async () => {
    const { proxy, url } = await proxyToBroker();
    const cut = await startRouterReplica(sg, { amqpUrl: url });
    try {
      const user = await registerUser(sg, 'revcut');
      const second = await login(user);
      expect((await meWith(user.accessToken, cut.url)).me?.id).toBe(user.id);
      await proxy.stop();
      // Revoked while this replica hears nothing: it reads the list while disconnected.
      await sg.gql('mutation ($t: String!) { logout(refreshToken: $t) }', {
        token: user.accessToken,
        variables: { t: user.refreshToken },
      });
      await waitFor(async () => (await meWith(user.accessToken, cut.url)).status === 401, {
        timeoutMs: 15_000,
        intervalMs: 200,
      });
      await proxy.start();
      // Back on the bus, revocations arrive live again.
      await sg.gql('mutation ($t: String!) { logout(refreshToken: $t) }', {
        token: second.accessToken,
        variables: { t: second.refreshToken },
      });
      await refused(second.accessToken, cut.url);
    } finally {
      await cut.stop();
      await proxy.stop();
    }
  }, 60_000);

  it('does not let a client ask for the revocations', async () => {
    const res = await sg.gql('{ _revocations { userId sessionId } }', {
      token: admin.accessToken,
    });
    expect(res.status).toBe(400);
    expect(errorOf(res)?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});
