import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isRequiredArgument,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  type GraphQLOutputType,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Supergraph } from '@apollo/federation-internals';
import { encodeCursor } from '#lib/pagination.js';
import { SUPERGRAPH_PATH } from '../../schema/paths.js';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.js';
import { createTask, tasksKnow } from '../support/tasks.js';
import { freshUsername, registerUser, type TestUser } from '../support/users.js';

/**
 * Every argument of the public API, and every field of its input objects, driven with
 * generated hostile values through the router: whatever a client sends, the answer is a
 * client error with a code (BAD_USER_INPUT, NOT_FOUND, …) or data, never an internal error,
 * never a 5xx. The list of arguments comes from the composed API schema, so a new argument is
 * covered the day it is added.
 *
 * Runs per argument: HOSTILE_RUNS (default 6). A failure prints fast-check's seed and path;
 * replay it with HOSTILE_SEED=<seed> HOSTILE_PATH=<path> and `-t '<the test name>'`.
 * Subscription arguments are not driven here: over HTTP a subscription is refused before its
 * arguments are looked at (SUBSCRIPTION_TRANSPORT_REQUIRED).
 */

const RUNS = Number(process.env.HOSTILE_RUNS ?? 6);
const SEED = process.env.HOSTILE_SEED === undefined ? undefined : Number(process.env.HOSTILE_SEED);
const PATH = process.env.HOSTILE_PATH;

const api = Supergraph.build(readFileSync(SUPERGRAPH_PATH, 'utf8')).apiSchema().toGraphQLJSSchema();

/** One value a client may send: an argument, or a field of an input object inside one. */
interface Target {
  /** e.g. `Mutation.createTask(input.title)`: the test's name. */
  name: string;
  root: 'query' | 'mutation';
  /** Fields from the root to the parent of `field` (`['me']` for `User.tasks`). */
  path: string[];
  field: GraphQLField<unknown, unknown>;
  argument: GraphQLArgument;
  /** Input fields from the argument down to the hostile value. */
  inputPath: string[];
  type: GraphQLInputType;
}

/** The shortest way from Query to each object type, through fields that need no arguments. */
function pathsToTypes(): Map<GraphQLObjectType, string[]> {
  const query = api.getQueryType()!;
  const paths = new Map<GraphQLObjectType, string[]>([[query, []]]);
  const queue: GraphQLObjectType[] = [query];
  for (let type = queue.shift(); type; type = queue.shift()) {
    for (const field of Object.values(type.getFields())) {
      const target = getNamedType(field.type);
      if (!isObjectType(target) || paths.has(target) || field.args.some(isRequiredArgument))
        continue;
      paths.set(target, [...paths.get(type)!, field.name]);
      queue.push(target);
    }
  }
  return paths;
}

/** Each argument, and each input field within it, as a target of its own. */
function targetsOf(
  base: Omit<Target, 'name' | 'inputPath' | 'type'>,
  owner: string,
  inputPath: string[] = [],
  type: GraphQLInputType = base.argument.type,
): Target[] {
  const label = [base.argument.name, ...inputPath].join('.');
  const here: Target = {
    ...base,
    name: `${owner}.${base.field.name}(${label})`,
    inputPath,
    type,
  };
  const named = getNamedType(type);
  if (!isInputObjectType(named) || isListType(isNonNullType(type) ? type.ofType : type))
    return [here];
  return [
    here,
    ...Object.values(named.getFields()).flatMap(f =>
      targetsOf(base, owner, [...inputPath, f.name], f.type),
    ),
  ];
}

function allTargets(): Target[] {
  const roots: [GraphQLObjectType, 'query' | 'mutation', string[]][] = [
    ...[...pathsToTypes()].map(([type, path]): [GraphQLObjectType, 'query', string[]] => [
      type,
      'query',
      path,
    ]),
    [api.getMutationType()!, 'mutation', []],
  ];
  return roots.flatMap(([type, root, path]) =>
    Object.values(type.getFields()).flatMap(field =>
      field.args.flatMap(argument => targetsOf({ root, path, field, argument }, type.name)),
    ),
  );
}

// ---------------------------------------------------------------- hostile values

const MEGABYTE = 'a'.repeat(1 << 20);
const NEAR_BODY_LIMIT = '\u202e'.repeat(300_000); // 900 KB of UTF-8

const oddCharacter = fc.constantFrom(
  '\0',
  '\u0001',
  '\u0008',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u200b',
  '\u202e', // right-to-left override
  '\u2066',
  '\ufeff',
  '\ufffe',
  '\ud800', // lone surrogates
  '\udfff',
  '\u{1f600}',
  'é',
  'a',
  ' ',
  '%',
  "'",
  '\\',
);
const positionValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(
    '0000-01-01T00:00:00.000Z',
    '0000-01-01',
    '10000-01-01T00:00:00.000Z',
    '+275760-09-13T00:00:00.000Z',
    'ali\0ce',
  ),
  fc.uuid(),
);
const cursorKind = fc.oneof(
  fc.constantFrom(
    'users',
    'notifications',
    ...['CREATED_AT', 'UPDATED_AT', 'DUE_DATE', 'PRIORITY', 'TITLE'].flatMap(f => [
      `tasks:${f}:ASC`,
      `tasks:${f}:DESC`,
    ]),
  ),
  fc.string(),
);
const forgedCursor = fc.oneof(
  fc
    .tuple(cursorKind, fc.oneof(positionValue, fc.array(positionValue, { maxLength: 3 })))
    .map(([kind, position]) => encodeCursor(kind, position)),
  fc.uint8Array({ maxLength: 64 }).map(b => Buffer.from(b).toString('base64url')),
  fc.jsonValue().map(v => Buffer.from(JSON.stringify(v)).toString('base64')),
);

const hostileString = fc.oneof(
  { arbitrary: fc.constantFrom('', ' ', '\t', '\n', ' \u00a0\u2003 '), weight: 2 },
  { arbitrary: fc.string({ unit: oddCharacter, maxLength: 40 }), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.constantFrom(MEGABYTE, NEAR_BODY_LIMIT, 'x'.repeat(257)), weight: 1 },
  { arbitrary: forgedCursor, weight: 3 },
  {
    arbitrary: fc.oneof(
      fc.uuid(),
      fc.uuid().map(u => `${u}\0`),
      fc.uuid().map(u => u.toUpperCase()),
      fc.constantFrom('not-a-uuid', '00000000-0000-0000-0000-000000000000', '1e308', 'NaN'),
    ),
    weight: 2,
  },
);
const extremeNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(
    0,
    -1,
    2 ** 31 - 1,
    2 ** 31,
    -(2 ** 31) - 1,
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_SAFE_INTEGER,
    1e308,
    -1e308,
    5e-324,
    1.5,
  ),
);
const hostileDate = fc.oneof(
  fc.constantFrom(
    '0000-01-01',
    '0000-02-29',
    '9999-12-31',
    '10000-01-01',
    '2024-02-30',
    '2024-13-01',
    '-000001-01-01',
    '+275760-09-13',
    '2024-01-01T00:00:00.000Z',
    '0000-01-01T00:00:00.000Z',
    20240101,
  ),
  fc.date({ noInvalidDate: true }).map(d => d.toISOString().slice(0, 10)),
  fc.date({ noInvalidDate: true }).map(d => d.toISOString()),
);
/** A value of some other type than the one asked for. */
const wrongType = fc.oneof(
  fc.string({ maxLength: 10 }),
  extremeNumber,
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom([], {}, { unknown: 1 }, [null], [[]]),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
);

function hostileFor(type: GraphQLInputType): fc.Arbitrary<unknown> {
  const nullable = isNonNullType(type) ? type.ofType : type;
  if (isListType(nullable)) {
    const item = hostileFor(nullable.ofType);
    return fc.oneof(item, fc.array(item, { maxLength: 4 }), wrongType);
  }
  const typed: fc.Arbitrary<unknown> = isEnumType(nullable)
    ? fc.oneof(
        fc.constantFrom(...nullable.getValues().map(v => v.name)),
        fc.constantFrom(...nullable.getValues().map(v => v.name.toLowerCase())),
        hostileString,
      )
    : nullable.name === 'Int' || nullable.name === 'Float'
      ? extremeNumber
      : nullable.name === 'Boolean'
        ? fc.boolean()
        : nullable.name === 'Date' || nullable.name === 'DateTime'
          ? hostileDate
          : isInputObjectType(nullable)
            ? fc.constantFrom({}, { [randomUUID().slice(0, 8)]: 1 })
            : hostileString;
  return fc.oneof({ arbitrary: typed, weight: 4 }, { arbitrary: wrongType, weight: 1 });
}

// ---------------------------------------------------------------- plausible values

let sg: TestSupergraph;
let admin: TestUser;
let alice: TestUser;
let taskId: string;

/**
 * A value that passes every check, for the arguments besides the hostile one: without them
 * the request would be refused before the hostile value is looked at. Named cases first
 * (a registration needs a free username), then by type.
 */
function plausible(name: string, type: GraphQLInputType): unknown {
  const nullable = isNonNullType(type) ? type.ofType : type;
  if (isListType(nullable)) return [plausible(name, nullable.ofType)];
  if (isInputObjectType(nullable)) {
    return Object.fromEntries(
      Object.values(nullable.getFields())
        .filter(f => isNonNullType(f.type))
        .map(f => [f.name, plausible(f.name, f.type)]),
    );
  }
  if (isEnumType(nullable)) return nullable.getValues()[0]!.name;
  const byName: Record<string, () => unknown> = {
    username: () => freshUsername('fuzz'),
    email: () => `${freshUsername('fuzz')}@example.com`,
    password: () => 'long enough password',
    newPassword: () => 'long enough password',
    login: () => alice.username,
    userId: () => alice.id,
    assigneeId: () => alice.id,
  };
  const named = byName[name];
  if (named) return named();
  switch (nullable.name) {
    case 'ID':
      return taskId;
    case 'Int':
    case 'Float':
      return 5;
    case 'Boolean':
      return true;
    case 'Date':
      return '2026-12-01';
    case 'DateTime':
      return '2026-12-01T00:00:00.000Z';
    default:
      return 'plausible text';
  }
}

/** `value` placed at `path` within the plausible value of `type`. */
function withValueAt(
  type: GraphQLInputType,
  name: string,
  path: string[],
  value: unknown,
): unknown {
  if (path.length === 0) return value;
  const base = plausible(name, type) as Record<string, unknown>;
  const named = getNamedType(type);
  const [first, ...rest] = path;
  const fieldType = isInputObjectType(named) ? named.getFields()[first!]!.type : type;
  return { ...base, [first!]: withValueAt(fieldType, first!, rest, value) };
}

/** Scalar fields of `type`, and those of the object fields that take no required argument. */
function selectionOf(type: GraphQLOutputType, depth = 2): string {
  const named = getNamedType(type);
  if (isLeafType(named) || !isObjectType(named)) return '';
  const fields = Object.values(named.getFields()).filter(f => !f.args.some(isRequiredArgument));
  const parts = fields.flatMap(f => {
    const target = getNamedType(f.type);
    if (isLeafType(target)) return [f.name];
    if (depth > 1 && isObjectType(target)) return [`${f.name} ${selectionOf(f.type, depth - 1)}`];
    return [];
  });
  return `{ __typename ${parts.join(' ')} }`;
}

/** The operation that sends `value` to `target`, every other required argument plausible. */
function operationFor(target: Target, value: unknown) {
  const variables: Record<string, unknown> = {};
  const definitions: string[] = [];
  const args = target.field.args.flatMap(arg => {
    if (arg !== target.argument && !isRequiredArgument(arg)) return [];
    variables[arg.name] =
      arg === target.argument
        ? withValueAt(arg.type, arg.name, target.inputPath, value)
        : plausible(arg.name, arg.type);
    definitions.push(`$${arg.name}: ${String(arg.type)}`);
    return [`${arg.name}: $${arg.name}`];
  });
  const call = `${target.field.name}(${args.join(', ')}) ${selectionOf(target.field.type)}`;
  const body = target.path.reduceRight((inner, field) => `${field} { ${inner} }`, call);
  return { query: `${target.root} (${definitions.join(', ')}) { ${body} }`, variables };
}

/** What a client got: the status and the parsed body (or the text that did not parse). */
async function send(query: string, variables: Record<string, unknown>, user: TestUser | null) {
  const res = await fetch(sg.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(user ? { authorization: `Bearer ${user.accessToken}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as { errors?: unknown[] } };
  } catch {
    return { status: res.status, body: text };
  }
}

/** Errors a client must never see for anything it sent. */
const NOT_THE_CLIENTS_FAULT = new Set(['INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE']);

const short = (value: unknown) => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 300 ? `${text.slice(0, 300)}… (${text.length} characters)` : text;
};

const targets = allTargets();

beforeAll(async () => {
  sg = await startTestSupergraph();
  admin = await registerUser(sg, 'admin');
  alice = await registerUser(sg, 'alice');
  const bob = await registerUser(sg, 'bob');
  await tasksKnow(sg, alice, [alice, bob]);
  taskId = (await createTask(sg, alice, { title: 'Fuzzed', assigneeId: bob.id })).id;
});
afterAll(async () => {
  await sg?.stop();
});

describe(`hostile values in every argument (replay: HOSTILE_SEED=<seed> HOSTILE_PATH=<path> -t '<name>')`, () => {
  it('covers every argument and input field of Query, Mutation and the types they reach', () => {
    const names = targets.map(t => t.name);
    // A few the list must have, whatever else the schema grows.
    expect(names).toEqual(
      expect.arrayContaining([
        'Mutation.register(input.displayName)',
        'Mutation.createTask(input.dueDate)',
        'Mutation.assignTask(assigneeId)',
        'Query.tasks(filter.search)',
        'User.tasks(after)',
        'Query.users(search)',
        'Query.notifications(after)',
      ]),
    );
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(targets.map(t => [t.name, t] as const))(
    '%s: never an internal error, never a 5xx',
    async (_name, target) => {
      await fc.assert(
        fc.asyncProperty(
          hostileFor(target.type),
          fc.constantFrom<'alice' | 'admin' | 'anonymous'>('alice', 'alice', 'admin', 'anonymous'),
          async (value, who) => {
            const { query, variables } = operationFor(target, value);
            const user = who === 'alice' ? alice : who === 'admin' ? admin : null;
            const { status, body } = await send(query, variables, user);
            const errors = typeof body === 'string' ? [] : (body.errors ?? []);
            const bad = errors.filter(e => {
              const code = (e as { extensions?: { code?: unknown } }).extensions?.code;
              return typeof code !== 'string' || NOT_THE_CLIENTS_FAULT.has(code);
            });
            if (status >= 500 || typeof body === 'string' || bad.length > 0) {
              throw new Error(
                `${who} sent ${query} with ${short(variables)}: HTTP ${status}, ${short(body)}`,
              );
            }
          },
        ),
        {
          numRuns: RUNS,
          ...(SEED === undefined ? {} : { seed: SEED }),
          ...(PATH === undefined ? {} : { path: PATH }),
          // One request per run already: shrinking a counterexample must not take minutes.
          endOnFailure: false,
          interruptAfterTimeLimit: 20_000,
        },
      );
    },
  );
});
