import type { UserRow } from './db/schema.js';

/**
 * What `User` resolvers receive: the row, marked when it is the user who just proved
 * who they are (register, login, refresh), whose own fields they may see although the
 * request itself came in anonymous.
 */
export type UserModel = UserRow & { readonly authenticatedSelf?: true };

export const asAuthenticatedSelf = (user: UserRow): UserModel => ({
  ...user,
  authenticatedSelf: true,
});
