import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_MAX_AGE_MS } from '#lib/auth/claims.js';
import { tapEvents, type EventTap } from '../support/amqp.js';
import {
  asRouter,
  postGraphQL,
  startTestSupergraph,
  type RequestHeaders,
  type TestSupergraph,
} from '../support/supergraph.js';
import {
  AUTH_FIELDS,
  errorOf,
  freshUsername,
  registerUser,
  type TestUser,
} from '../support/users.js';
import { waitFor } from '../support/wait.js';

let sg: TestSupergraph;
let tap: EventTap;
let admin: TestUser;

beforeAll(async () => {
  sg = await startTestSupergraph();
  tap = await tapEvents(sg.namespace, 'user.*');
  admin = await registerUser(sg, 'admin');
});
afterAll(async () => {
  await tap?.close();
  await sg?.stop();
});

const ME = '{ me { id username displayName email role bio createdAt } }';

describe('accounts through the router', () => {
  it('register → login → me → updateProfile → refresh → logout', async () => {
    const username = freshUsername('flow');
    const registered = await sg.gql<{
      register: { accessToken: string; expiresIn: number; user: Record<string, unknown> };
    }>(
      `mutation { register(input: { username: "${username}", email: "${username.toUpperCase()}@Example.com", password: "long enough pw", displayName: "Flow Person" }) { ${AUTH_FIELDS} } }`,
    );
    expect(registered.errors).toBeUndefined();
    expect(registered.data!.register.expiresIn).toBe(900);
    expect(registered.data!.register.user).toMatchObject({
      username,
      displayName: 'Flow Person',
      email: `${username}@example.com`,
      role: 'USER',
    });

    const loggedIn = await sg.gql<{ login: { accessToken: string; refreshToken: string } }>(
      `mutation { login(input: { login: "${username}@EXAMPLE.com", password: "long enough pw" }) { ${AUTH_FIELDS} } }`,
    );
    expect(loggedIn.errors).toBeUndefined();
    const { accessToken, refreshToken } = loggedIn.data!.login;

    const me = await sg.gql<{ me: Record<string, unknown> }>(ME, { token: accessToken });
    expect(me.data!.me).toMatchObject({
      username,
      email: `${username}@example.com`,
      role: 'USER',
      bio: null,
    });
    expect(new Date(me.data!.me.createdAt as string).toISOString()).toBe(me.data!.me.createdAt);

    const updated = await sg.gql<{ updateProfile: Record<string, unknown> }>(
      'mutation { updateProfile(input: { displayName: "  New Name ", bio: "Writes tests." }) { displayName bio email } }',
      { token: accessToken },
    );
    expect(updated.data!.updateProfile).toEqual({
      displayName: 'New Name',
      bio: 'Writes tests.',
      email: `${username}@example.com`,
    });

    const refreshed = await sg.gql<{
      refreshToken: { accessToken: string; refreshToken: string; user: { displayName: string } };
    }>(`mutation ($t: String!) { refreshToken(refreshToken: $t) { ${AUTH_FIELDS} } }`, {
      variables: { t: refreshToken },
    });
    expect(refreshed.errors).toBeUndefined();
    expect(refreshed.data!.refreshToken.user.displayName).toBe('New Name');
    expect(refreshed.data!.refreshToken.refreshToken).not.toBe(refreshToken);

    const out = await sg.gql<{ logout: boolean }>(
      'mutation ($t: String!) { logout(refreshToken: $t) }',
      {
        variables: { t: refreshed.data!.refreshToken.refreshToken },
        token: refreshed.data!.refreshToken.accessToken,
      },
    );
    expect(out.data!.logout).toBe(true);
    const again = await sg.gql(
      'mutation ($t: String!) { refreshToken(refreshToken: $t) { accessToken } }',
      {
        variables: { t: refreshed.data!.refreshToken.refreshToken },
      },
    );
    expect(errorOf(again)?.code).toBe('UNAUTHENTICATED');
  });

  it('makes the first user ADMIN and everyone after a USER', async () => {
    const me = await sg.gql<{ me: { role: string } }>(ME, { token: admin.accessToken });
    expect(me.data!.me.role).toBe('ADMIN');
    const other = await registerUser(sg, 'second');
    expect(
      (await sg.gql<{ me: { role: string } }>(ME, { token: other.accessToken })).data!.me.role,
    ).toBe('USER');
  });

  it('shows an email only to its owner and to admins', async () => {
    const alice = await registerUser(sg, 'alice');
    const bob = await registerUser(sg, 'bob');
    const query = `{ user(id: "${bob.id}") { username email } }`;
    expect(
      (await sg.gql<{ user: unknown }>(query, { token: alice.accessToken })).data!.user,
    ).toEqual({ username: bob.username, email: null });
    expect((await sg.gql<{ user: unknown }>(query, { token: bob.accessToken })).data!.user).toEqual(
      { username: bob.username, email: bob.email },
    );
    expect(
      (await sg.gql<{ user: unknown }>(query, { token: admin.accessToken })).data!.user,
    ).toEqual({ username: bob.username, email: bob.email });
  });

  it('answers null for a user that does not exist, or an id that cannot be one', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await sg.gql<{ user: unknown }>(`{ user(id: "${id}") { id } }`, {
        token: admin.accessToken,
      });
      expect(res.errors).toBeUndefined();
      expect(res.data!.user).toBeNull();
    }
  });
});

describe('anonymous callers', () => {
  it('get null for me and UNAUTHENTICATED for everything but register, login and refresh', async () => {
    const me = await sg.gql<{ me: unknown }>('{ me { id } }');
    expect(me.status).toBe(200);
    expect(me.data!.me).toBeNull();
    for (const op of [
      `{ user(id: "${admin.id}") { id } }`,
      '{ users { totalCount } }',
      'mutation { updateProfile(input: { bio: "x" }) { id } }',
      'mutation { changePassword(currentPassword: "a", newPassword: "bbbbbbbbbb") }',
      'mutation { deleteAccount(password: "whatever1") }',
      `mutation { setUserRole(userId: "${admin.id}", role: USER) { id } }`,
      'mutation { logout(refreshToken: "x") }',
    ]) {
      expect(errorOf(await sg.gql(op))?.code, op).toBe('UNAUTHENTICATED');
    }
  });

  it('cannot pass as someone by sending claim headers themselves', async () => {
    const headers = {
      'x-user-id': admin.id,
      'x-user-role': 'ADMIN',
      'x-user-name': admin.username,
    };
    const res = await sg.gql<{ me: unknown }>('{ me { id } }', { headers });
    expect(res.data!.me).toBeNull();
    const forged = asRouter('users', 'not-the-router-secret-at-all-00000', {
      userId: admin.id,
      role: 'ADMIN',
      username: admin.username,
    });
    const withSignature = await sg.gql<{ me: unknown }>('{ me { id } }', { headers: forged });
    expect(withSignature.data!.me).toBeNull();
  });
});

describe('bad input', () => {
  const register = (input: Record<string, unknown>) =>
    sg.gql('mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }', {
      variables: { input },
    });
  const valid = () => {
    const username = freshUsername('valid');
    return { username, email: `${username}@example.com`, password: 'password123' };
  };

  it.each([
    ['a short username', { username: 'ab' }, 'input.username'],
    ['a long username', { username: 'a'.repeat(33) }, 'input.username'],
    ['upper case in a username', { username: 'Alice' }, 'input.username'],
    ['a space in a username', { username: 'al ice' }, 'input.username'],
    ['an invalid email', { email: 'not-an-email' }, 'input.email'],
    ['a short password', { password: 'short' }, 'input.password'],
    ['a long password', { password: 'p'.repeat(257) }, 'input.password'],
    ['a long display name', { displayName: 'd'.repeat(101) }, 'input.displayName'],
    ['a blank display name', { displayName: '   ' }, 'input.displayName'],
  ])('refuses %s with BAD_USER_INPUT naming the field', async (_name, override, field) => {
    const res = await register({ ...valid(), ...override });
    expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('refuses a bio over 1,000 characters and writes nothing', async () => {
    const res = await sg.gql(
      'mutation { updateProfile(input: { bio: "' +
        'b'.repeat(1001) +
        '", displayName: "Changed" }) { id } }',
      {
        token: admin.accessToken,
      },
    );
    expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.bio' });
    const me = await sg.gql<{ me: { displayName: string } }>(ME, { token: admin.accessToken });
    expect(me.data!.me.displayName).not.toBe('Changed');
  });

  it('refuses a taken username or email with CONFLICT', async () => {
    const taken = await registerUser(sg, 'taken');
    expect(errorOf(await register({ ...valid(), username: taken.username }))).toMatchObject({
      code: 'CONFLICT',
      field: 'input.username',
    });
    expect(errorOf(await register({ ...valid(), email: taken.email.toUpperCase() }))).toMatchObject(
      { code: 'CONFLICT', field: 'input.email' },
    );
    const other = await registerUser(sg, 'other');
    const res = await sg.gql(
      `mutation { updateProfile(input: { email: "${taken.email}" }) { id } }`,
      { token: other.accessToken },
    );
    expect(errorOf(res)).toMatchObject({ code: 'CONFLICT', field: 'input.email' });
  });

  it('gives a wrong password and an unknown user the same answer', async () => {
    const user = await registerUser(sg, 'login');
    const login = (login: string, password: string) =>
      sg.gql('mutation ($i: LoginInput!) { login(input: $i) { accessToken } }', {
        variables: { i: { login, password } },
      });
    const wrong = errorOf(await login(user.username, 'wrong password'));
    const unknown = errorOf(await login('nobody_at_all', 'wrong password'));
    expect(wrong).toEqual({
      code: 'UNAUTHENTICATED',
      field: undefined,
      message: 'Invalid login or password',
    });
    expect(unknown).toEqual(wrong);
  });

  it('rate-limits an account after 5 failed logins in 15 minutes, even with the right password', async () => {
    const user = await registerUser(sg, 'limited');
    const login = (password: string) =>
      sg.gql('mutation ($i: LoginInput!) { login(input: $i) { accessToken } }', {
        variables: { i: { login: user.username, password } },
      });
    for (let i = 0; i < 5; i++)
      expect(errorOf(await login(`wrong-${i}-password`))?.code).toBe('UNAUTHENTICATED');
    const limited = await login(user.password);
    expect(errorOf(limited)?.code).toBe('RATE_LIMITED');
    expect(limited.errors![0]!.extensions!.retryAfter).toBeGreaterThan(800);
    // Other accounts are not affected.
    const other = await registerUser(sg, 'unlimited');
    const ok = await sg.gql('mutation ($i: LoginInput!) { login(input: $i) { accessToken } }', {
      variables: { i: { login: other.username, password: other.password } },
    });
    expect(ok.errors).toBeUndefined();
  });
});

describe('access tokens at the router', () => {
  const secret = () => sg.config.jwt.secret;
  const sign = (payload: object, key: string, options: jwt.SignOptions) =>
    jwt.sign(payload, key, options);
  const base = {
    issuer: 'supergraph',
    audience: 'supergraph',
    subject: '00000000-0000-4000-8000-000000000001',
    expiresIn: 60,
  } as const;

  it.each([
    [
      'tampered',
      () => admin.accessToken.slice(0, -4) + (admin.accessToken.endsWith('AAAA') ? 'BBBB' : 'AAAA'),
    ],
    ['expired', () => sign({ role: 'USER', username: 'x' }, secret(), { ...base, expiresIn: -1 })],
    [
      'signed with another secret',
      () => sign({ role: 'USER', username: 'x' }, 'w'.repeat(40), base),
    ],
    [
      'for another audience',
      () => sign({ role: 'USER', username: 'x' }, secret(), { ...base, audience: 'other' }),
    ],
    [
      'alg none',
      () =>
        sign(
          { role: 'ADMIN', username: 'x', sub: base.subject, iss: 'supergraph', aud: 'supergraph' },
          '',
          { algorithm: 'none' },
        ),
    ],
    ['not a JWT', () => 'garbage'],
  ])('answers a %s token with HTTP 401 UNAUTHENTICATED', async (_name, token) => {
    const res = await sg.gql('{ me { id } }', { token: token() });
    expect(res.status).toBe(401);
    expect(errorOf(res)?.code).toBe('UNAUTHENTICATED');
  });

  it('answers a malformed Authorization header with 401', async () => {
    const res = await sg.gql('{ me { id } }', { headers: { authorization: 'Basic abc' } });
    expect(res.status).toBe(401);
  });
});

describe('the users subgraph behind the router', () => {
  const direct = (headers: RequestHeaders) =>
    postGraphQL(`${sg.supergraph.subgraphs.users!.url}/graphql`, '{ me { id role } }', { headers });

  it('refuses a direct call without a signature with 401', async () => {
    const res = await direct({});
    expect(res.status).toBe(401);
    expect(errorOf(res)?.code).toBe('UNAUTHENTICATED');
  });

  it('refuses forged, stale and tampered claims with 401', async () => {
    const claims = { userId: admin.id, role: 'ADMIN' as const, username: admin.username };
    const signed = asRouter('users', sg.config.routerSecret, claims);
    expect((await direct(asRouter('users', 'f'.repeat(40), claims))).status).toBe(401);
    expect(
      (
        await direct(
          asRouter('users', sg.config.routerSecret, claims, {
            now: Date.now() - SIGNATURE_MAX_AGE_MS - 1_000,
          }),
        )
      ).status,
    ).toBe(401);
    expect((await direct(body => ({ ...signed(body), 'x-user-role': 'USER' }))).status).toBe(401);
    expect(
      (await direct({ 'x-user-id': admin.id, 'x-user-role': 'ADMIN', 'x-user-name': 'a' })).status,
    ).toBe(401);
  });

  it('accepts claims the router signed', async () => {
    const res = await direct(
      asRouter('users', sg.config.routerSecret, {
        userId: admin.id,
        role: 'ADMIN',
        username: admin.username,
      }),
    );
    expect(res.status).toBe(200);
    expect(res.data).toEqual({ me: { id: admin.id, role: 'ADMIN' } });
  });

  it('refuses claims the router signed for another subgraph, another body, or used already', async () => {
    const url = `${sg.supergraph.subgraphs.users!.url}/graphql`;
    const claims = { userId: admin.id, role: 'ADMIN' as const, username: admin.username };
    const body = JSON.stringify({ query: '{ me { id role } }', variables: {} });
    const send = (headers: Record<string, string>, text = body) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: text,
      });
    // Captured from a request to tasks: worthless at users.
    expect((await send(asRouter('tasks', sg.config.routerSecret, claims)(body))).status).toBe(401);
    // Captured from `{ me }`: worthless for a mutation.
    const captured = asRouter('users', sg.config.routerSecret, claims)(body);
    const other = JSON.stringify({
      query: 'mutation($id: ID!) { deleteUser(id: $id) }',
      variables: { id: admin.id },
    });
    expect((await send(captured, other)).status).toBe(401);
    // And used once only.
    expect((await send(captured)).status).toBe(200);
    const replayed = await send(captured);
    expect(replayed.status).toBe(401);
    expect(
      ((await replayed.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!
        .extensions.code,
    ).toBe('UNAUTHENTICATED');
  });
});

describe('refresh tokens', () => {
  const refresh = (token: string) =>
    sg.gql<{ refreshToken: { refreshToken: string; accessToken: string } }>(
      'mutation ($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }',
      { variables: { t: token } },
    );

  it('rotate: the old token stops working, and its reuse revokes the whole family', async () => {
    const user = await registerUser(sg, 'rotate');
    const first = await refresh(user.refreshToken);
    const next = first.data!.refreshToken.refreshToken;
    expect(errorOf(await refresh(user.refreshToken))?.code).toBe('UNAUTHENTICATED');
    // The thief replayed the old token: the legitimate newer one is revoked too.
    expect(errorOf(await refresh(next))?.code).toBe('UNAUTHENTICATED');
  });

  it('refuses an unknown token', async () => {
    expect(errorOf(await refresh('x'.repeat(43)))?.code).toBe('UNAUTHENTICATED');
  });

  it('logout ends only the viewer’s own session', async () => {
    const a = await registerUser(sg, 'sessa');
    const b = await registerUser(sg, 'sessb');
    const res = await sg.gql<{ logout: boolean }>(
      'mutation ($t: String!) { logout(refreshToken: $t) }',
      {
        variables: { t: b.refreshToken },
        token: a.accessToken,
      },
    );
    expect(res.data!.logout).toBe(false);
    expect((await refresh(b.refreshToken)).errors).toBeUndefined();
  });
});

describe('passwords and accounts', () => {
  it('changePassword needs the current password and ends other sessions', async () => {
    const user = await registerUser(sg, 'chpw');
    const elsewhere = (
      await sg.gql<{ login: { refreshToken: string } }>(
        `mutation { login(input: { login: "${user.username}", password: "${user.password}" }) { refreshToken } }`,
      )
    ).data!.login;
    const wrong = await sg.gql(
      'mutation { changePassword(currentPassword: "not it at all", newPassword: "new password 1") }',
      {
        token: user.accessToken,
      },
    );
    expect(errorOf(wrong)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'currentPassword' });
    const short = await sg.gql(
      `mutation { changePassword(currentPassword: "${user.password}", newPassword: "short") }`,
      {
        token: user.accessToken,
      },
    );
    expect(errorOf(short)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'newPassword' });
    const ok = await sg.gql<{ changePassword: boolean }>(
      `mutation { changePassword(currentPassword: "${user.password}", newPassword: "new password 1") }`,
      { token: user.accessToken },
    );
    expect(ok.data!.changePassword).toBe(true);
    const oldLogin = await sg.gql(
      `mutation { login(input: { login: "${user.username}", password: "${user.password}" }) { accessToken } }`,
    );
    expect(errorOf(oldLogin)?.code).toBe('UNAUTHENTICATED');
    const newLogin = await sg.gql(
      `mutation { login(input: { login: "${user.username}", password: "new password 1" }) { accessToken } }`,
    );
    expect(newLogin.errors).toBeUndefined();
    const refresh = (t: string) =>
      sg.gql('mutation ($t: String!) { refreshToken(refreshToken: $t) { accessToken } }', {
        variables: { t },
      });
    // The other session is over; the caller's goes on (revocation.e2e: its access token is
    // refused, its refresh token gets a new one).
    expect(errorOf(await refresh(elsewhere.refreshToken))?.code).toBe('UNAUTHENTICATED');
    expect((await refresh(user.refreshToken)).errors).toBeUndefined();
  });

  it('deleteAccount needs the password, then the account is gone', async () => {
    const user = await registerUser(sg, 'leaving');
    const wrong = await sg.gql('mutation { deleteAccount(password: "wrong password") }', {
      token: user.accessToken,
    });
    expect(errorOf(wrong)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'password' });
    const ok = await sg.gql<{ deleteAccount: boolean }>(
      `mutation { deleteAccount(password: "${user.password}") }`,
      {
        token: user.accessToken,
      },
    );
    expect(ok.data!.deleteAccount).toBe(true);
    expect((await sg.gql<{ me: unknown }>(ME, { token: user.accessToken })).data!.me).toBeNull();
    const login = await sg.gql(
      `mutation { login(input: { login: "${user.username}", password: "${user.password}" }) { accessToken } }`,
    );
    expect(errorOf(login)?.code).toBe('UNAUTHENTICATED');
    await waitFor(() => tap.events.some(e => e.type === 'user.deleted' && e.data.id === user.id));
  });
});

describe('roles', () => {
  const setRole = (token: string, userId: string, role: string) =>
    sg.gql<{ setUserRole: { id: string; role: string } }>(
      `mutation { setUserRole(userId: "${userId}", role: ${role}) { id role } }`,
      { token },
    );

  it('only admins set roles; the last admin cannot be demoted or leave', async () => {
    const user = await registerUser(sg, 'plain');
    expect(errorOf(await setRole(user.accessToken, user.id, 'ADMIN'))?.code).toBe('FORBIDDEN');
    expect(errorOf(await setRole(admin.accessToken, admin.id, 'USER'))?.code).toBe('CONFLICT');
    expect(
      errorOf(
        await sg.gql(`mutation { deleteAccount(password: "${admin.password}") }`, {
          token: admin.accessToken,
        }),
      )?.code,
    ).toBe('CONFLICT');
    expect(
      errorOf(await setRole(admin.accessToken, '00000000-0000-4000-8000-000000000000', 'ADMIN'))
        ?.code,
    ).toBe('NOT_FOUND');

    expect((await setRole(admin.accessToken, user.id, 'ADMIN')).data!.setUserRole).toEqual({
      id: user.id,
      role: 'ADMIN',
    });
    // Two admins now: one may step down.
    expect((await setRole(admin.accessToken, user.id, 'USER')).data!.setUserRole.role).toBe('USER');
    await waitFor(() =>
      tap.events.some(
        e => e.type === 'user.updated' && e.data.id === user.id && e.data.role === 'USER',
      ),
    );
  });
});

describe('users (admins only)', () => {
  const USERS =
    'query ($s: String, $f: Int, $a: String) { users(search: $s, first: $f, after: $a) { totalCount edges { cursor node { username email } } pageInfo { hasNextPage endCursor } } }';
  type Page = {
    users: {
      totalCount: number;
      edges: Array<{ node: { username: string; email: string } }>;
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
    };
  };

  it('is FORBIDDEN to non-admins', async () => {
    const user = await registerUser(sg, 'nosy');
    expect(errorOf(await sg.gql(USERS, { token: user.accessToken }))?.code).toBe('FORBIDDEN');
  });

  it('searches and pages through every match exactly once, in username order', async () => {
    const tag = `pg${Math.random().toString(36).slice(2, 7)}`;
    for (let i = 0; i < 5; i++) await registerUser(sg, `${tag}x`);
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res: Awaited<ReturnType<typeof sg.gql<Page>>> = await sg.gql<Page>(USERS, {
        token: admin.accessToken,
        variables: { s: tag, f: 2, a: after },
      });
      expect(res.errors).toBeUndefined();
      expect(res.data!.users.totalCount).toBe(5);
      seen.push(...res.data!.users.edges.map(e => e.node.username));
      if (!res.data!.users.pageInfo.hasNextPage) break;
      after = res.data!.users.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(5);
    expect([...seen].sort()).toEqual(seen);
    expect(new Set(seen).size).toBe(5);
  });

  it('refuses a bad cursor and a page over 100', async () => {
    expect(
      errorOf(await sg.gql(USERS, { token: admin.accessToken, variables: { a: 'bogus' } })),
    ).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    expect(
      errorOf(await sg.gql(USERS, { token: admin.accessToken, variables: { f: 101 } })),
    ).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });
});

describe('events', () => {
  it('publishes user.created and user.updated without email or password material', async () => {
    const user = await registerUser(sg, 'evt', 'Event Person');
    await sg.gql('mutation { updateProfile(input: { displayName: "Renamed" }) { id } }', {
      token: user.accessToken,
    });
    await waitFor(() => tap.events.some(e => e.type === 'user.updated' && e.data.id === user.id));
    const mine = tap.events.filter(e => 'id' in e.data && e.data.id === user.id);
    expect(mine.map(e => e.type)).toEqual(['user.created', 'user.updated']);
    expect(mine[0]).toMatchObject({
      producer: 'users',
      version: 1,
      actorId: user.id,
      data: { id: user.id, username: user.username, displayName: 'Event Person', role: 'USER' },
    });
    expect(mine[1]!.data).toMatchObject({ displayName: 'Renamed' });
    const text = JSON.stringify(mine);
    expect(text).not.toContain('@example.com');
    expect(text).not.toContain(user.password);
    expect(text).not.toContain('scrypt');
  });
});
