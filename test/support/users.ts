import { expect } from 'vitest';
import { postGraphQL, type GraphQLResponse, type TestSupergraph } from './supergraph.js';

export interface TestUser {
  id: string;
  username: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

export const AUTH_FIELDS =
  'accessToken refreshToken expiresIn user { id username displayName email role }';

let counter = 0;
/** A username no other test of this run uses. */
export function freshUsername(prefix = 'user'): string {
  counter += 1;
  return `${prefix}${counter}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Registers a user through the router and returns its credentials. */
export async function registerUser(
  sg: TestSupergraph,
  prefix = 'user',
  displayName?: string,
): Promise<TestUser> {
  const username = freshUsername(prefix);
  const email = `${username}@example.com`;
  const password = `pw-${username}-secret`;
  const res = await sg.gql<{
    register: { accessToken: string; refreshToken: string; user: { id: string } };
  }>(`mutation ($input: RegisterInput!) { register(input: $input) { ${AUTH_FIELDS} } }`, {
    variables: { input: { username, email, password, ...(displayName ? { displayName } : {}) } },
  });
  expect(res.errors).toBeUndefined();
  const payload = res.data!.register;
  return {
    id: payload.user.id,
    username,
    email,
    password,
    accessToken: payload.accessToken,
    refreshToken: payload.refreshToken,
  };
}

/**
 * Registers a fresh user at the router URL `url` (a supergraph running in other processes, see
 * `startProcessSupergraph`); throws with the answer when registration did not succeed.
 */
export async function registerAt(
  url: string,
  prefix = 'user',
): Promise<{ id: string; username: string; token: string }> {
  const username = freshUsername(prefix);
  const res = await postGraphQL<{ register: { accessToken: string; user: { id: string } } }>(
    url,
    `mutation ($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`,
    {
      variables: {
        input: { username, email: `${username}@example.com`, password: `pw-${username}-secret` },
      },
    },
  );
  const payload = res.data?.register;
  if (!payload) throw new Error(`registration failed: ${JSON.stringify(res.errors ?? res.status)}`);
  return { id: payload.user.id, username, token: payload.accessToken };
}

/** The `extensions.code` (and `field`) of the first error, for compact assertions. */
export function errorOf(res: GraphQLResponse<unknown>) {
  const err = res.errors?.[0];
  return err
    ? { code: err.extensions?.code, field: err.extensions?.field, message: err.message }
    : undefined;
}

/**
 * The users service's read of a notification email's recipient (`mailRecipient`): made by its
 * notification-mail consumer on every `notification.created`, not by resolving a request, so
 * tests that count what a request costs in SQL leave it out.
 */
export const isMailRecipientRead = (statement: string): boolean =>
  /^select "email", "email_verified", "notification_email_kinds" from "users"/i.test(statement);
