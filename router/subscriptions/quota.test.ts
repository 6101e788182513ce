import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { subscriptionQuota, type Holder } from './quota.js';

describe('the subscription quota', () => {
  it('counts per holder and per viewer, refuses with the limit named, and gives back on release', () => {
    const quota = subscriptionQuota({ perConnection: 2, perViewer: 3 });
    const a: Holder = { open: 0 };
    const b: Holder = { open: 0 };
    const first = quota.take('alice', a);
    const second = quota.take('alice', a);
    const onA = quota.take('alice', a);
    expect(onA).toBeInstanceOf(GraphQLError);
    expect((onA as GraphQLError).extensions).toMatchObject({
      code: 'TOO_MANY_SUBSCRIPTIONS',
      limit: 2,
      scope: 'connection',
    });
    expect(quota.take('alice', b)).toBeTypeOf('function');
    const overViewer = quota.take('alice', b);
    expect((overViewer as GraphQLError).extensions).toMatchObject({ limit: 3, scope: 'viewer' });
    // Another viewer is not affected.
    expect(quota.take('bob', b)).toBeTypeOf('function');
    if (typeof first !== 'function' || typeof second !== 'function') throw new Error('refused');
    first();
    first(); // a second release changes nothing
    expect(quota.openOf('alice')).toBe(2);
    expect(a.open).toBe(1);
    expect(quota.take('alice', a)).toBeTypeOf('function');
  });
});
