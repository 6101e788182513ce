import { describe, expect, it } from 'vitest';
import { ANONYMOUS } from '#lib/auth/claims.js';
import { thrown } from './__fixtures__/errors.js';
import {
  canManage,
  canSee,
  listRestriction,
  requireMayChange,
  requireVisible,
  viewerFrom,
  type Viewer,
} from './access.js';
import type { UserStubRow } from './db/schema.js';

const stub = (overrides: Partial<UserStubRow> = {}): UserStubRow => ({
  id: 'u1',
  username: 'ann',
  displayName: 'Ann',
  role: 'USER',
  syncedAt: new Date(),
  deletedAt: null,
  ...overrides,
});

const owner: Viewer = { id: 'owner', admin: false };
const assignee: Viewer = { id: 'assignee', admin: false };
const stranger: Viewer = { id: 'stranger', admin: false };
const admin: Viewer = { id: 'admin', admin: true };
const task = { ownerId: 'owner', assigneeId: 'assignee' };

describe('the viewer', () => {
  it('takes the role the users service last published, and the token’s until then', () => {
    const claims = { ...ANONYMOUS, userId: 'u1', role: 'ADMIN' as const, username: 'ann' };
    expect(viewerFrom(claims, null)).toEqual({ id: 'u1', admin: true });
    expect(viewerFrom(claims, stub({ role: 'USER' }))).toEqual({ id: 'u1', admin: false });
    expect(viewerFrom({ ...claims, role: 'USER' }, stub({ role: 'ADMIN' }))).toEqual({
      id: 'u1',
      admin: true,
    });
  });

  it('is UNAUTHENTICATED when anonymous or deleted', () => {
    expect(thrown(() => viewerFrom(ANONYMOUS, null))?.code).toBe('UNAUTHENTICATED');
    expect(
      thrown(() =>
        viewerFrom(
          { ...ANONYMOUS, userId: 'u1', role: 'USER', username: 'ann' },
          stub({ deletedAt: new Date() }),
        ),
      )?.code,
    ).toBe('UNAUTHENTICATED');
  });
});

describe('task access', () => {
  it('owner, assignee and admins see a task; nobody else does, and for them it does not exist', () => {
    expect([owner, assignee, admin, stranger].map(v => canSee(v, task))).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(thrown(() => requireVisible(stranger, task))?.code).toBe('NOT_FOUND');
    expect(thrown(() => requireVisible(admin, null))?.code).toBe('NOT_FOUND');
    expect(requireVisible(assignee, task)).toBe(task);
  });

  it('owner and admins change everything; the assignee the status only', () => {
    expect([owner, assignee, admin].map(v => canManage(v, task))).toEqual([true, false, true]);
    expect(thrown(() => requireMayChange(assignee, task, ['status']))).toBeNull();
    expect(thrown(() => requireMayChange(assignee, task, []))).toBeNull();
    expect(thrown(() => requireMayChange(assignee, task, ['status', 'title']))?.code).toBe(
      'FORBIDDEN',
    );
    expect(thrown(() => requireMayChange(owner, task, ['title', 'dueDate']))).toBeNull();
    expect(thrown(() => requireMayChange(admin, task, ['priority']))).toBeNull();
  });

  it('restricts lists to the viewer’s tasks, except for admins and the viewer’s own lists', () => {
    expect(listRestriction(admin)).toBeNull();
    expect(listRestriction(owner)).toBe('owner');
    expect(listRestriction(owner, 'owner')).toBeNull();
    expect(listRestriction(owner, 'someone')).toBe('owner');
  });
});
