import type { Claims } from '#lib/auth/claims.js';
import { forbidden, notFound, unauthenticated } from '#lib/errors.js';
import type { TasksContext } from './context.js';
import type { TaskRow, UserStubRow } from './db/schema.js';

/**
 * Who may see and change which task — the one place that decides it:
 * - a user sees the tasks they own or are assigned; an admin sees every task;
 * - the owner and admins change every field, assign and delete;
 * - the assignee changes the status only.
 * A task the viewer may not see answers exactly like a task that does not exist.
 */

export interface Viewer {
  id: string;
  admin: boolean;
}

/**
 * The signed-in viewer. Their role is the one the users service last published (the stub),
 * so a demotion counts as soon as its event arrives; the token's role stands in until the
 * stub of a brand-new user has arrived. A deleted user's token no longer works here.
 */
export function viewerFrom(claims: Claims, stub: UserStubRow | null): Viewer {
  if (!claims.userId) throw unauthenticated();
  if (stub?.deletedAt) throw unauthenticated('Your account no longer exists');
  return { id: claims.userId, admin: (stub?.role ?? claims.role) === 'ADMIN' };
}

/** The viewer of this request (UNAUTHENTICATED when anonymous); their stub is loaded once per request. */
export async function viewerOf(ctx: Pick<TasksContext, 'claims' | 'loaders'>): Promise<Viewer> {
  const stub = ctx.claims.userId ? await ctx.loaders.stub.load(ctx.claims.userId) : null;
  return viewerFrom(ctx.claims, stub);
}

type Parties = Pick<TaskRow, 'ownerId' | 'assigneeId'>;

export const canSee = (viewer: Viewer, task: Parties): boolean =>
  viewer.admin || task.ownerId === viewer.id || task.assigneeId === viewer.id;

export const canManage = (viewer: Viewer, task: Parties): boolean =>
  viewer.admin || task.ownerId === viewer.id;

/**
 * Whose visibility restricts a list: null (none) for an admin, and for the viewer's own
 * owned or assigned tasks (`ofUser`, for User.tasks and User.assignedTasks), which they see
 * all of; otherwise the viewer's id: only tasks they own or are assigned.
 */
export function listRestriction(viewer: Viewer, ofUser?: string): string | null {
  return viewer.admin || ofUser === viewer.id ? null : viewer.id;
}

/** The task, if the viewer may see it; NOT_FOUND otherwise, as for a task that does not exist. */
export function requireVisible<T extends Parties>(viewer: Viewer, task: T | null | undefined): T {
  if (!task || !canSee(viewer, task)) throw notFound('No such task');
  return task;
}

export function requireManager(viewer: Viewer, task: Parties, action: string): void {
  if (!canManage(viewer, task))
    throw forbidden(`Only the owner of the task or an admin may ${action} it`);
}

/** FORBIDDEN when the viewer may not change these fields (API names) of a task they can see. */
export function requireMayChange(viewer: Viewer, task: Parties, changed: readonly string[]): void {
  if (canManage(viewer, task)) return;
  if (changed.some(field => field !== 'status')) {
    throw forbidden('The assignee of a task may change its status only');
  }
}
