import { readFileSync } from 'node:fs';
import { GraphQLScalarType, Kind, parse, type ConstDirectiveNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { CacheHint, CachePolicy, ResolveInfoCacheControl } from '@apollo/cache-control-types';
import { ANONYMOUS, type Claims } from '#lib/auth/claims.js';
import { createLogger } from '#lib/log.js';
import { subgraphNamed, subgraphs, type SubgraphName } from '../../subgraphs/index.js';

/**
 * The router resolves a subscription event once for many viewers when every subgraph fetch
 * answered PUBLIC with a max-age (router/subscriptions.ts), and Apollo Server derives that
 * answer from each subgraph's `@cacheControl` hints. A field whose answer depends on who asks
 * must therefore be PRIVATE, or one viewer would be shown another's. This calls every
 * resolver of every subgraph with a context whose claims record being read, and checks the
 * hints of each one that read them.
 */

const SUBGRAPHS = subgraphs.map(s => s.name as SubgraphName);
const descriptor = (name: SubgraphName) => {
  const found = subgraphNamed(name);
  if (!found) throw new Error(`no subgraph ${name}`);
  return found;
};
const schemaPath = (name: SubgraphName) => descriptor(name).schemaPath;

const VIEWER: Claims = {
  userId: '00000000-0000-4000-8000-000000000001',
  role: 'USER',
  username: 'v',
  sessionId: '00000000-0000-4000-8000-0000000000aa',
  clientAddress: null,
};

/** The `@cacheControl` hints a subgraph's schema.graphql declares. */
interface SchemaHints {
  /** By type name, the type-level hint. */
  types: Map<string, CacheHint>;
  /** By `Type.field`, the field's own hint. */
  fields: Map<string, CacheHint>;
  /** Every field of each `@key` (entity) type, as `Type.field`. */
  entityFields: string[];
}

function hintOf(directives: readonly ConstDirectiveNode[] | undefined): CacheHint | undefined {
  const directive = directives?.find(d => d.name.value === 'cacheControl');
  if (!directive) return undefined;
  const hint: CacheHint = {};
  for (const arg of directive.arguments ?? []) {
    if (arg.name.value === 'maxAge' && arg.value.kind === Kind.INT)
      hint.maxAge = Number(arg.value.value);
    if (arg.name.value === 'scope' && arg.value.kind === Kind.ENUM)
      hint.scope = arg.value.value === 'PRIVATE' ? 'PRIVATE' : 'PUBLIC';
  }
  return hint;
}

function schemaHints(name: SubgraphName): SchemaHints {
  const hints: SchemaHints = { types: new Map(), fields: new Map(), entityFields: [] };
  for (const definition of parse(readFileSync(schemaPath(name), 'utf8')).definitions) {
    if (
      definition.kind !== Kind.OBJECT_TYPE_DEFINITION &&
      definition.kind !== Kind.OBJECT_TYPE_EXTENSION
    )
      continue;
    const type = definition.name.value;
    const typeHint = hintOf(definition.directives);
    if (typeHint) hints.types.set(type, typeHint);
    const entity = definition.directives?.some(d => d.name.value === 'key') ?? false;
    for (const field of definition.fields ?? []) {
      const fieldHint = hintOf(field.directives);
      if (fieldHint) hints.fields.set(`${type}.${field.name.value}`, fieldHint);
      if (entity) hints.entityFields.push(`${type}.${field.name.value}`);
    }
  }
  return hints;
}

const grantsPublic = (hint: CacheHint | undefined) =>
  hint?.maxAge !== undefined && hint.maxAge > 0 && hint.scope !== 'PRIVATE';

/** What calling one resolver did, over every variant of parent and viewer it was called with. */
interface Observed {
  /** Read the claims: its answer may depend on who asks. */
  readViewer: boolean;
  /** PUBLIC hints with a max-age it set at run time (`info.cacheControl`). */
  publicHints: CacheHint[];
  /** Context members the test does not know, so cannot say whether they identify the viewer. */
  unknownContext: Set<string>;
}

/** What a resolver is handed by the subgraph: claims, logger and request id, loaders, deps. */
function fakeContext(claims: Claims, observed: Observed): object {
  const known: Record<string, unknown> = {
    requestId: 'cache-hints-test',
    log: createLogger({ level: 'silent' }),
    // A subscription's place in the event stream (lib/live.ts): the same for every viewer.
    resume: undefined,
    // Loaders find nothing, so a resolver goes on past a look-up to what it does next.
    loaders: new Proxy(
      {},
      {
        get: () => ({
          load: async () => null,
          loadMany: async (keys: readonly unknown[]) => keys.map(() => null),
        }),
      },
    ),
    // No database or bus here: a resolver that reaches them throws, after what it read first.
    deps: new Proxy(
      {},
      {
        get: (_target, key) => {
          throw new Error(`no ${String(key)} in this test`);
        },
      },
    ),
  };
  return new Proxy(known, {
    get: (target, key) => {
      if (key === 'claims') {
        observed.readViewer = true;
        return claims;
      }
      if (typeof key === 'string' && !(key in target)) observed.unknownContext.add(key);
      return typeof key === 'string' ? target[key] : undefined;
    },
  });
}

/** The part of `info` that resolvers here use: Apollo's cache control, recording the hints set. */
function fakeInfo(
  fieldName: string,
  observed: Observed,
): { fieldName: string; cacheControl: ResolveInfoCacheControl } {
  const record = (hint: CacheHint) => {
    if (grantsPublic(hint)) observed.publicHints.push(hint);
  };
  const cacheHint: CachePolicy = {
    replace: record,
    restrict: record,
    policyIfCacheable: () => null,
  };
  return {
    fieldName,
    cacheControl: { cacheHint, setCacheHint: record, cacheHintFromType: () => undefined },
  };
}

/** A parent (or reference, or event) with no values, and one with a value for every key. */
const PARENTS = (type: string): object[] => [
  new Proxy(
    { __typename: type },
    { get: (t, key) => (key === '__typename' ? t.__typename : undefined) },
  ),
  new Proxy(
    { __typename: type },
    {
      get: (t, key) =>
        key === '__typename'
          ? t.__typename
          : key === 'then' || typeof key === 'symbol'
            ? undefined
            : VIEWER.userId,
    },
  ),
];

interface ResolverCall {
  type: string;
  /** The field, or `__resolveReference`; a subscription's `subscribe` and `resolve` both count. */
  field: string;
  fn: (...args: unknown[]) => unknown;
}

const entriesOf = (value: object): [string, unknown][] => Object.entries(value);

/** Every resolver function in a subgraph's resolver map (scalars have none to call). */
function resolverCalls(resolvers: object): ResolverCall[] {
  const calls: ResolverCall[] = [];
  for (const [type, fields] of entriesOf(resolvers)) {
    if (fields instanceof GraphQLScalarType || typeof fields !== 'object' || fields === null)
      continue;
    for (const [field, resolver] of entriesOf(fields)) {
      const parts =
        typeof resolver === 'object' && resolver !== null
          ? entriesOf(resolver).map(([, part]) => part)
          : [resolver];
      for (const fn of parts) {
        // Called with fakes, whatever its typed signature: the point is what it reads.
        if (typeof fn === 'function')
          calls.push({ type, field, fn: fn as (...args: unknown[]) => unknown });
      }
    }
  }
  return calls;
}

/** Calls every resolver with each parent and each viewer (signed in, anonymous); throws are fine. */
async function observe(resolvers: object): Promise<Map<string, Observed & ResolverCall>> {
  const observed = new Map<string, Observed & ResolverCall>();
  for (const call of resolverCalls(resolvers)) {
    const name = `${call.type}.${call.field}`;
    const seen = observed.get(name) ?? {
      ...call,
      readViewer: false,
      publicHints: [],
      unknownContext: new Set<string>(),
    };
    observed.set(name, seen);
    for (const parent of PARENTS(call.type)) {
      for (const claims of [VIEWER, ANONYMOUS]) {
        const context = fakeContext(claims, seen);
        const info = fakeInfo(call.field, seen);
        const args =
          call.field === '__resolveReference'
            ? [parent, context, info]
            : [parent, {}, context, info];
        try {
          await call.fn(...args);
        } catch {
          // A resolver refusing (UNAUTHENTICATED) or reaching the missing database: what it
          // read before that is what counts.
        }
      }
    }
  }
  return observed;
}

const observations = new Map<SubgraphName, ReturnType<typeof observe>>();
/** What every resolver of subgraph `name` read and set, observed once per file. */
function observed(name: SubgraphName): ReturnType<typeof observe> {
  let observation = observations.get(name);
  if (!observation) {
    observation = observe(descriptor(name).resolvers);
    observations.set(name, observation);
  }
  return observation;
}

describe.each(SUBGRAPHS)('the %s subgraph', name => {
  const hints = schemaHints(name);

  it('gives every resolver that reads the viewer a PRIVATE hint, or answers nothing PUBLIC', async () => {
    const resolvers = [...(await observed(name)).entries()];
    const declaresMaxAge = [...hints.types.values(), ...hints.fields.values()].some(grantsPublic);
    const setsMaxAge = resolvers.some(([, seen]) => seen.publicHints.length > 0);
    const problems: string[] = [];
    for (const [resolver, { type, field, readViewer, publicHints }] of resolvers) {
      if (!readViewer) continue;
      if (publicHints.length > 0)
        problems.push(`${resolver} reads the viewer and sets a PUBLIC cache hint at run time`);
      // An entity fetch (__resolveReference) answers for the type: its hint is the type's.
      const entity = field === '__resolveReference';
      const hint = entity ? hints.types.get(type) : hints.fields.get(resolver);
      // Without any max-age in the subgraph every answer is max-age 0: never PUBLIC.
      if ((declaresMaxAge || setsMaxAge) && hint?.scope !== 'PRIVATE')
        problems.push(
          `${resolver} reads the viewer but is not @cacheControl(scope: PRIVATE)${entity ? ` on type ${type}` : ''}`,
        );
    }
    expect(problems).toEqual([]);
  });

  it('hands resolvers only context members whose meaning the test knows', async () => {
    const unknown = [...(await observed(name)).values()].flatMap(o => [...o.unknownContext]);
    expect(unknown).toEqual([]);
  });
});

describe('sharing in the users subgraph', () => {
  const hints = schemaHints('users');

  it('is decided field by field: no type-level max-age, every entity field with its own hint', () => {
    expect([...hints.types].filter(([, hint]) => grantsPublic(hint))).toEqual([]);
    const undecided = hints.entityFields.filter(field => {
      const hint = hints.fields.get(field);
      return !grantsPublic(hint) && hint?.scope !== 'PRIVATE';
    });
    expect(undecided).toEqual([]);
  });
});

describe('the probe', () => {
  it('tells resolvers that read the viewer from those that do not', async () => {
    const reads = async (name: SubgraphName) => {
      const resolvers = await observed(name);
      return (resolver: string) => resolvers.get(resolver)?.readViewer;
    };
    const [u, t, n] = await Promise.all(SUBGRAPHS.map(reads));
    expect(['Query.me', 'Query.user', 'User.email', 'Mutation.updateProfile'].map(u!)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['User.__resolveReference', 'Mutation.register', 'Mutation.login'].map(u!)).toEqual([
      false,
      false,
      false,
    ]);
    expect(['Task.__resolveReference', 'User.tasks', 'Subscription.taskChanged'].map(t!)).toEqual([
      true,
      true,
      true,
    ]);
    expect(['Task.owner', 'TaskEvent.actor'].map(t!)).toEqual([false, false]);
    expect(['Notification.__resolveReference', 'User.notifications'].map(n!)).toEqual([true, true]);
    expect(['Notification.read', 'User.__resolveReference'].map(n!)).toEqual([false, false]);
  });
});
