import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { and, eq, lt } from 'drizzle-orm';
import { TransactionRollbackError } from 'drizzle-orm/errors';
import { getOperationAST, Kind, OperationTypeNode, parse } from 'graphql';
import { stringify } from 'safe-stable-stringify';
import { HeaderMap, type HTTPGraphQLResponse } from '@apollo/server';
import type { Database, Transaction } from '../db.js';
import { badUserInput, ErrorCode, isTransient, serviceUnavailable } from '../errors.js';
import type { Logger } from '../log.js';
import { idempotencyKeys } from './tables.js';

/**
 * A subgraph's half of idempotent retries (README, "Idempotent retries"). A mutation request
 * the router signed with an idempotency key (lib/auth/claims.ts) runs inside one transaction
 * that first takes the key — a row of `idempotency_keys`, primary key (viewer, key) — and
 * ends by storing the answer in it. The resolvers' own transactions join it (`joinable`):
 * they become savepoints of it, so the change, its outbox events and the record of its answer
 * commit together or not at all. A repeat is answered with the stored answer without running
 * anything, whichever replica it reaches; a repeat while the first is in flight waits on the
 * row (the unique key decides) and then gets the stored answer, or runs if the first rolled
 * back; the same key with another request is BAD_USER_INPUT.
 *
 * No resolver does anything for it: every mutation of every subgraph gets it.
 */

type Schema = Record<string, unknown>;

/**
 * `db`, but inside `run(tx, work)` every call goes to the transaction `tx` instead: a
 * resolver's `db.transaction(…)` becomes a savepoint of it, and its reads see what it wrote.
 * Each database has its own scope, so a subgraph never lands in another's transaction (one
 * process runs all of them in `npm start`); anything the work leaves behind (a timer, a woken
 * relay) gets the plain database back once the transaction has ended.
 */
export function joinable<TSchema extends Schema>(db: Database<TSchema>) {
  const scope = new AsyncLocalStorage<{ tx: Transaction<TSchema>; open: boolean }>();
  const joined = new Proxy(db, {
    get(target, property) {
      const store = scope.getStore();
      const source: Database<TSchema> = store?.open ? store.tx : target;
      const value: unknown = Reflect.get(source, property, source);
      // Drizzle tells handles apart by their constructor (`is()`): leave it unbound.
      return typeof value === 'function' && property !== 'constructor'
        ? (value as (...args: unknown[]) => unknown).bind(source)
        : value;
    },
  });
  return {
    db: joined,
    async run<T>(tx: Transaction<TSchema>, work: () => Promise<T>): Promise<T> {
      const store = { tx, open: true };
      try {
        return await scope.run(store, work);
      } finally {
        store.open = false;
      }
    },
  };
}

/** What a subgraph request under an idempotency key is. */
export interface KeyedRequest {
  /** The signed-in viewer's user id. */
  viewer: string;
  /** The key as the router signed it. */
  key: string;
  /** The parsed request body: `{ query, operationName, variables }`. */
  body: unknown;
}

interface GraphQLRequestBody {
  query?: unknown;
  operationName?: unknown;
  variables?: unknown;
}

/**
 * The root fields (names, not aliases) of a request body's mutation; null when it is no
 * mutation, does not parse, or selects anything but plain fields at its root (the router's
 * plans never do).
 */
export function mutationFields(body: unknown): string[] | null {
  if (!body || typeof body !== 'object') return null;
  const { query, operationName } = body as GraphQLRequestBody;
  if (typeof query !== 'string') return null;
  try {
    const operation = getOperationAST(
      parse(query),
      typeof operationName === 'string' ? operationName : undefined,
    );
    if (operation?.operation !== OperationTypeNode.MUTATION) return null;
    const fields: string[] = [];
    for (const selection of operation.selectionSet.selections) {
      if (selection.kind !== Kind.FIELD) return null;
      fields.push(selection.name.value);
    }
    return fields;
  } catch {
    return null;
  }
}

/**
 * What identifies a request under its key: its operation, operation name and variables, with
 * object keys in a stable order (a retry may serialize its variables in another order).
 */
function requestDigest(body: unknown): string {
  const { query, operationName, variables } = (body ?? {}) as GraphQLRequestBody;
  const canonical = stringify([query ?? null, operationName ?? null, variables ?? {}]);
  return createHash('sha256').update(canonical).digest('base64url');
}

const jsonResponse = (status: number, body: string): HTTPGraphQLResponse => ({
  status,
  headers: new HeaderMap([['content-type', 'application/json; charset=utf-8']]),
  body: { kind: 'complete', string: body },
});

/** A GraphQL answer of errors only, as Apollo Server would send it. */
const errorResponse = (status: number, error: ReturnType<typeof badUserInput>) =>
  jsonResponse(status, JSON.stringify({ data: null, errors: [error.toJSON()] }));

/** Codes after which a retry may do better: an answer that has nothing else is not kept. */
const PASSING = new Set<unknown>([
  ErrorCode.SERVICE_UNAVAILABLE,
  ErrorCode.INTERNAL_SERVER_ERROR,
  ErrorCode.RATE_LIMITED,
]);

/**
 * What an answer says for keeping it. `kept`: the body to store, or null when it is not kept.
 * Kept: any answer with data (something ran), and an answer that refused for good
 * (BAD_USER_INPUT, NOT_FOUND, FORBIDDEN…): the same request would be refused the same way. Not
 * kept: a transient or internal failure with no data, or a refusal before execution (not 200):
 * the transaction is rolled back — nothing the request did stays — and a retry runs afresh.
 */
function judge(response: HTTPGraphQLResponse): { kept: string | null; ran: boolean } {
  // graphql 16 has no incremental delivery: a subgraph always answers in one piece.
  if (response.body.kind !== 'complete' || (response.status ?? 200) !== 200)
    return { kept: null, ran: false };
  let parsed: {
    data?: Record<string, unknown> | null;
    errors?: Array<{ extensions?: { code?: unknown } }>;
  };
  try {
    parsed = JSON.parse(response.body.string) as typeof parsed;
  } catch {
    return { kept: null, ran: false };
  }
  const ran = !!parsed.data && Object.values(parsed.data).some(value => value != null);
  const passing = (parsed.errors ?? []).some(e => PASSING.has(e.extensions?.code));
  return { kept: ran || !passing ? response.body.string : null, ran };
}

export interface IdempotencyOptions<TSchema extends Schema> {
  /** The subgraph's own database (not the joinable handle). */
  db: Database<TSchema>;
  /** The handle its resolvers use, joined to the request's transaction. */
  joined: ReturnType<typeof joinable<TSchema>>;
  /** How long a key is remembered (IDEMPOTENCY_KEY_RETENTION_HOURS), in ms. */
  retentionMs: number;
  /** After a commit: the relay publishes what the request wrote to the outbox. */
  onCommit: () => void;
  log: Logger;
}

/** Runs keyed mutation requests exactly once per (viewer, key); `prune` forgets old keys. */
export function idempotentExecution<TSchema extends Schema>(options: IdempotencyOptions<TSchema>) {
  const { db, joined, log } = options;
  const expiredBefore = () => new Date(Date.now() - options.retentionMs);
  const keyOf = (request: KeyedRequest) =>
    and(eq(idempotencyKeys.viewer, request.viewer), eq(idempotencyKeys.key, request.key));

  async function run(
    request: KeyedRequest,
    execute: () => Promise<HTTPGraphQLResponse>,
  ): Promise<HTTPGraphQLResponse> {
    const digest = requestDigest(request.body);
    let answer: HTTPGraphQLResponse | undefined;
    try {
      await db.transaction(async tx => {
        // A key older than the retention is forgotten, pruned or not.
        await tx
          .delete(idempotencyKeys)
          .where(and(keyOf(request), lt(idempotencyKeys.createdAt, expiredBefore())));
        // Takes the key. A request under the same key in flight holds it: this waits for its
        // commit (then there is nothing to insert) or its rollback (then this one runs).
        const taken = await tx
          .insert(idempotencyKeys)
          .values({
            viewer: request.viewer,
            key: request.key,
            requestDigest: digest,
            status: 0,
            body: '',
          })
          .onConflictDoNothing()
          .returning({ key: idempotencyKeys.key });
        if (taken.length === 0) {
          const [done] = await tx.select().from(idempotencyKeys).where(keyOf(request));
          if (!done) {
            // Pruned between the two statements: rare, and a retry settles it.
            answer = errorResponse(503, serviceUnavailable());
          } else if (done.requestDigest !== digest) {
            answer = errorResponse(
              200,
              badUserInput(
                'This Idempotency-Key was already used for another operation or other variables: use a new key for each new request',
                'idempotency-key',
              ),
            );
          } else {
            log.info({ key: request.key }, 'idempotent repeat answered from its record');
            answer = jsonResponse(done.status, done.body);
          }
          return;
        }
        const response = await joined.run(tx, execute);
        answer = response;
        const { kept, ran } = judge(response);
        if (kept === null) return tx.rollback();
        try {
          await tx
            .update(idempotencyKeys)
            .set({ status: response.status ?? 200, body: kept })
            .where(keyOf(request));
        } catch (err) {
          // A statement of the request that failed outside a savepoint of its own has doomed
          // the transaction: nothing it did will commit. An answer that says nothing ran may
          // still go out; one that says something ran would be a lie.
          if (!ran) return tx.rollback();
          throw err;
        }
      });
    } catch (err) {
      if (err instanceof TransactionRollbackError && answer) return answer;
      // The key could not be taken or the commit failed: whether it committed is unknown,
      // and a retry under the same key finds out safely.
      log.warn({ err }, 'idempotent mutation not recorded');
      if (isTransient(err)) return errorResponse(503, serviceUnavailable());
      throw err;
    }
    options.onCommit();
    if (!answer) throw new Error('idempotent execution ended without an answer');
    return answer;
  }

  /** Forgets keys older than the retention; how many it forgot. */
  async function prune(): Promise<number> {
    const gone = await db
      .delete(idempotencyKeys)
      .where(lt(idempotencyKeys.createdAt, expiredBefore()))
      .returning({ key: idempotencyKeys.key });
    return gone.length;
  }

  return { run, prune };
}
