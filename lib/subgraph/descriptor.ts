import { fileURLToPath } from 'node:url';
import type { Claims } from '../auth/claims.js';
import type { Config } from '../config.js';
import type { Database } from '../db.js';
import type { EventHandler, WorkQueues } from '../events/bus.js';
import type { RequestContext } from '../http.js';
import type { LiveFeed, LiveResume } from '../live.js';
import type { Logger } from '../log.js';
import type { idempotencyKeys } from './tables.js';

/** A subgraph's Drizzle schema: its tables and enums, as its client knows them. */
export type Tables = Record<string, unknown>;

/** What every subgraph resolver sees: the router-signed claims and the request's logger. */
export interface SubgraphContext extends RequestContext {
  claims: Claims;
  /**
   * In a subscription over graphql-ws: where it resumes after its stream broke. Resolvers hand
   * it to `live.iterate`, so the router's cursor follows the events and a resumed subscription
   * misses none.
   */
  resume?: LiveResume;
}

/** What a running subgraph offers its descriptor to build its dependencies from. */
export interface SubgraphRuntime<TTables extends Tables = Tables> {
  config: Config;
  db: Database<TTables>;
  /** The subgraph's logger (`service` is its name). */
  log: Logger;
  /** Call after committing a transaction that wrote to the outbox: the relay publishes now. */
  onOutboxWrite: () => void;
  /** This process's live fan-out of the events the descriptor's `live` names. */
  live: LiveFeed;
}

/** Who consumes: the queue's full name (`tasks.user-sync`) and a logger that names it. */
export interface ConsumerInfo {
  queue: string;
  log: Logger;
}

/**
 * A durable work queue the subgraph consumes. (Members that take `TDeps` are methods, so a list
 * of descriptors of different subgraphs is one type: see `SubgraphDescriptor`.)
 */
export interface QueueSpec<TDeps> {
  /** Routing-key patterns in AMQP topic syntax, e.g. `user.*`. */
  bindings: readonly string[];
  /**
   * The queue's handler, built once when its consumer starts. Resolving acknowledges; see
   * `EventHandler` for poison and retries. It must be idempotent: record applied events with
   * `applyOnce` under `consumer.queue`, the queue's full name.
   */
  handler(deps: TDeps, consumer: ConsumerInfo): EventHandler;
}

/**
 * Everything that makes one subgraph, in one place: its API, its database, what its resolvers
 * get, and what it consumes from the bus. The runner (`runSubgraph`), the one-process
 * supergraph, composition, codegen, the migrations check, the bus topology and the packaging
 * checks all read the list of descriptors in subgraphs/index.ts; nothing else names a subgraph.
 */
export interface SubgraphDescriptor<
  TName extends string = string,
  TTables extends Tables = Tables,
  TDeps = unknown,
  TContext extends SubgraphContext = SubgraphContext,
> {
  /**
   * Lower-case name: its graph in the supergraph, the prefix of its variables (`USERS_PORT`,
   * `USERS_URL`, `USERS_DATABASE_URL`), its embedded database's folder, its metrics label and
   * the first word of its queue names.
   */
  readonly name: TName;
  /** Its port when `<NAME>_PORT` is not set, and in the composed supergraph's URL. */
  readonly port: number;
  /** Path of its `schema.graphql`, the source of truth of its API. */
  readonly schemaPath: string;
  /** Codegen-typed resolvers, checked against the schema by buildSubgraphSchema. */
  readonly resolvers: object;
  /** The Drizzle schema (tables and enums) its database client is built with. */
  readonly tables: TTables;
  /** drizzle-kit's SQL migrations, applied at start-up. */
  readonly migrationsFolder: string;
  /** The module that defines `tables`, which drizzle-kit reads (development only). */
  readonly tablesModule: string;
  /** How `npm run codegen` types its resolvers: paths relative to `src/__generated__/`. */
  readonly codegen: {
    /** `module#Type` of its resolvers' context. */
    readonly context: string;
    /** GraphQL type → `module#Type` its resolvers receive as parent. */
    readonly mappers: Readonly<Record<string, string>>;
  };
  /** Its dependencies, built once its database is open: what its context and consumers get. */
  deps(runtime: SubgraphRuntime<TTables>): TDeps;
  /** Stops what `deps` started (a background sender), after requests and consumers stopped. */
  stop?(deps: TDeps): Promise<void>;
  /** The context of one request (HTTP or subscription), from the verified claims. */
  context(base: SubgraphContext, deps: TDeps): TContext;
  /**
   * Durable work queues it consumes, by short name: `user-sync` is `<name>.user-sync`, shared
   * by all its replicas, so each event is applied once per service.
   */
  readonly queues?: Readonly<Record<string, QueueSpec<TDeps>>>;
  /** Event patterns its subscriptions read from this process's live fan-out, e.g. `task.*`. */
  readonly live?: readonly string[];
  /**
   * Mutations whose answers are never recorded under an Idempotency-Key, because they hold
   * credentials (tokens) that must not be stored: a request with one of them runs as if it had
   * no key (idempotency.ts).
   */
  readonly unrecorded?: readonly string[];
}

/**
 * The files of a subgraph laid out as every subgraph here is, from the URL of its descriptor
 * module (`subgraphs/<name>/src/subgraph.ts`): `../schema.graphql`, `../drizzle/` and
 * `./db/schema.ts`.
 */
export function subgraphFiles(
  descriptorModuleUrl: string,
): Pick<SubgraphDescriptor, 'schemaPath' | 'migrationsFolder' | 'tablesModule'> {
  const path = (relative: string) => fileURLToPath(new URL(relative, descriptorModuleUrl));
  return {
    schemaPath: path('../schema.graphql'),
    migrationsFolder: path('../drizzle'),
    tablesModule: path('./db/schema.ts'),
  };
}

/**
 * Declares a subgraph. The identity at run time: it exists so the descriptor's types are
 * inferred together (the deps one part returns are what the others take), and so a subgraph
 * whose tables lack `idempotency_keys` (its keyed mutations need it: idempotency.ts) does not
 * compile.
 */
export function defineSubgraph<
  const TName extends string,
  TTables extends Tables & { idempotencyKeys: typeof idempotencyKeys },
  TDeps,
  TContext extends SubgraphContext,
>(
  descriptor: SubgraphDescriptor<TName, TTables, TDeps, TContext>,
): SubgraphDescriptor<TName, TTables, TDeps, TContext> {
  return descriptor;
}

/** The full name of a subgraph's work queue: `<subgraph>.<queue>`. */
export const queueName = (subgraph: string, queue: string): string => `${subgraph}.${queue}`;

/** Every work queue of these subgraphs, by full name, for the bus to declare on connect. */
export function workQueues(subgraphs: readonly SubgraphDescriptor[]): WorkQueues {
  return Object.fromEntries(
    subgraphs.flatMap(subgraph =>
      Object.entries(subgraph.queues ?? {}).map(([queue, spec]) => [
        queueName(subgraph.name, queue),
        spec.bindings,
      ]),
    ),
  );
}
