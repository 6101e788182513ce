import { createEvent } from '#lib/events/envelope.js';
import type { UserRow } from './db/schema.js';

/**
 * What the users service publishes: `user.created`, `user.updated`, `user.deleted`, and the
 * revocations the routers apply (`user.session_revoked`, `user.sessions_revoked`).
 * The payload is the public part of the user only; email and password never travel.
 */
const publicUser = (u: UserRow) => ({
  id: u.id,
  username: u.username,
  displayName: u.displayName,
  role: u.role,
});

export const userCreated = (u: UserRow, actorId: string | null) =>
  createEvent('user.created', publicUser(u), { producer: 'users', actorId });
export const userUpdated = (u: UserRow, actorId: string | null) =>
  createEvent('user.updated', publicUser(u), { producer: 'users', actorId });
export const userDeleted = (id: string, actorId: string | null) =>
  createEvent('user.deleted', { id }, { producer: 'users', actorId });
/** One session (refresh-token family) ended: its access tokens stop working at every router. */
export const sessionRevoked = (id: string, sessionId: string, actorId: string | null) =>
  createEvent('user.session_revoked', { id, sessionId }, { producer: 'users', actorId });
/** Every access token of the user issued before `before` stops working at every router. */
export const sessionsRevoked = (id: string, before: Date, actorId: string | null) =>
  createEvent(
    'user.sessions_revoked',
    { id, before: before.toISOString() },
    { producer: 'users', actorId },
  );
