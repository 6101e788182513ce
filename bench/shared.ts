import { randomUUID } from 'node:crypto';
import type { SubscriptionStats } from '../router/subscriptions/bridge.js';
import type { PrivateTask } from './fanout-private.js';
import type { ShapeName, ShapeViewer } from './shapes.js';

/**
 * What the benchmark's processes share: the operations under test, the messages they
 * exchange over IPC, and small statistics helpers. No side effects on import.
 */

/** The federated query of the issue: one page of tasks, with fields from the users subgraph. */
export const TASKS_QUERY =
  'query BenchTasks { tasks(first: 50) { edges { node { title status owner { displayName } assignee { displayName } } } } }';

/**
 * The same query split as the router's plan splits it (see `bench/README` in the report):
 * the tasks subgraph's part, then the users subgraph's `_entities` for owner and assignee.
 * The router sends the two entity fetches in parallel; the floor sends one fetch with every
 * distinct representation, right after the tasks part.
 */
export const FLOOR_TASKS_QUERY =
  'query BenchTasks__tasks__0{tasks(first:50){edges{node{title status owner{__typename id}assignee{__typename id}}}}}';
export const FLOOR_USERS_QUERY =
  'query BenchTasks__users__1($representations:[_Any!]!){_entities(representations:$representations){...on User{displayName}}}';

/** The subscription of the fan-out runs: `occurredAt` dates the change (commit time, ms). */
export const TASK_CHANGED = `subscription BenchTaskChanged {
  taskChanged { kind taskId occurredAt task { title status owner { displayName } assignee { displayName } } }
}`;

export type GatewayKind = 'router' | 'hive' | 'hive-rust';

/** How a gateway process is started (`bench/gateway.ts`), passed as JSON in argv. */
export interface GatewaySpec {
  /** Label in the results, e.g. `router (before)`. */
  label: string;
  kind: GatewayKind;
  /** Router only: `createRouter` with the plainer parts of bench/baseline.ts (the "before" column). */
  baseline?: boolean;
  subgraphUrls: Record<'users' | 'tasks' | 'notifications', string>;
  jwtSecret: string;
  routerSecret: string;
  /** Router only: the bench's broker namespace, to hear revocations (else an in-process bus). */
  bus?: { url: string; namespace: string };
}

/** Parent → gateway process. */
export type GatewayRequest =
  | { type: 'stats' }
  | { type: 'stop' }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; file: string };
/** Gateway process → parent. */
export type GatewayMessage =
  | { type: 'listening'; url: string }
  | { type: 'stats'; rss: number; heapUsed: number; subscriptions?: SubscriptionStats }
  | { type: 'profiled'; file: string }
  | { type: 'error'; message: string };

/** One HTTP load run (`bench/load.ts http`). */
export interface HttpLoadSpec {
  mode: 'http';
  label: string;
  /**
   * `graphql` posts TASKS_QUERY to `url`; `floor` calls the subgraphs directly. Connection i
   * acts as viewer i modulo the list (one entry: every connection is the same viewer).
   */
  target:
    | { kind: 'graphql'; url: string; tokens: string[] }
    | {
        kind: 'floor';
        tasksUrl: string;
        usersUrl: string;
        notificationsUrl: string;
        routerSecret: string;
        claims: BenchClaims[];
      };
  /** Label of the viewers scenario, e.g. `one viewer`. */
  viewers: string;
  /** Another shape than TASKS_QUERY (bench/shapes.ts), with connection i's viewer at i modulo the list. */
  shape?: { name: ShapeName; viewers: ShapeViewer[] };
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
}

/** A viewer as the router would sign it for the floor (who calls the subgraphs directly). */
export interface BenchClaims {
  userId: string;
  role: 'USER' | 'ADMIN';
  username: string;
  sessionId: string;
  clientAddress: null;
}

export interface HttpLoadResult {
  label: string;
  viewers: string;
  connections: number;
  durationSeconds: number;
  /** Completed operations in the measured window (a floor operation is two requests). */
  operations: number;
  /** Completed operations including the warm-up (to relate work counted over the whole run). */
  totalOperations: number;
  opsPerSecond: number;
  latencyMs: LatencySummary;
  /** Requests answered with a status other than 2xx, or with GraphQL errors, plus socket errors and timeouts. */
  failures: number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** One fan-out run (`bench/load.ts fanout`). */
export interface FanoutSpec {
  mode: 'fanout';
  label: string;
  /** The gateway's GraphQL URL (HTTP; the socket is the same URL with ws:). */
  url: string;
  /** One token per subscriber (same token repeated for the same-viewer run). */
  subscriberTokens: string[];
  /** The owner of `taskId`, who makes the changes. */
  mutatorToken: string;
  taskId: string;
  mutations: number;
  intervalMs: number;
  /** A tag unique to the run, so events of another run are never counted. */
  tag: string;
  /**
   * Ordinary users (bench/fanout-private.ts): subscriber i is the owner of tasks
   * i·tasksEach…; each round changes `changesPerRound` tasks, each as its owner, and each
   * change is expected at its owner and assignee only (`taskId`/`mutatorToken` unused).
   */
  private?: { tasks: PrivateTask[]; tasksEach: number; changesPerRound: number };
}

/** Load process → parent, during a fan-out run. */
export type FanoutMessage =
  | {
      type: 'phase';
      phase: 'connecting' | 'subscribed' | 'streaming' | 'draining';
      detail?: string;
    }
  | { type: 'progress'; done: number; total: number };

export interface FanoutResult {
  label: string;
  subscribers: number;
  distinctViewers: number;
  mutations: number;
  expected: number;
  delivered: number;
  /** Receipt time minus the event's `occurredAt` (set in the committing transaction). */
  latencyMs: LatencySummary;
  /** Deliveries of a change the subscriber may not see (must be 0; absent in older results). */
  unexpected?: number;
  /** Subscribers that got exactly the changes they may see, each once (absent in older results). */
  exactSubscribers?: number;
  /** Sockets that failed to connect or subscriptions that errored. */
  errors: number;
  /** Changes tried again after SERVICE_UNAVAILABLE, same Idempotency-Key (absent in older results). */
  retries?: number;
  /** How long it took for every subscriber to get the warm-up event. */
  readyMs: number;
}

export function summarize(samples: readonly number[]): LatencySummary {
  if (samples.length === 0)
    return {
      count: 0,
      p50: Number.NaN,
      p90: Number.NaN,
      p99: Number.NaN,
      max: Number.NaN,
      mean: Number.NaN,
    };
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ??
    Number.NaN;
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    count: sorted.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean,
  };
}

export interface GraphQLBody<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

/** A GraphQL error as `gql` throws it: the first error's code and `retryAfter` (seconds). */
export interface GqlError extends Error {
  code?: unknown;
  retryAfter?: number;
}

/** POSTs one operation; throws on transport errors and GraphQL errors alike. */
export async function gql<T>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
  headers: Record<string, string> = {},
): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json()) as GraphQLBody<T>;
  if (body.errors?.length) {
    const first = body.errors[0];
    const error: GqlError = new Error(
      `${first?.message ?? 'GraphQL error'} (${JSON.stringify(first?.extensions?.code ?? res.status)})`,
    );
    error.code = first?.extensions?.code;
    const retryAfter = first?.extensions?.retryAfter;
    if (typeof retryAfter === 'number') error.retryAfter = retryAfter;
    throw error;
  }
  if (!body.data) throw new Error(`no data (HTTP ${res.status})`);
  return body.data;
}

/**
 * `gql` as a client should use it (README "Transient failures: what to retry"): an answer
 * whose first error has one of `retryOn`'s codes (SERVICE_UNAVAILABLE unless told) is tried
 * again after its `retryAfter`, or a doubling backoff with jitter if longer, at most `attempts`
 * times. Every try carries the same `Idempotency-Key`, so a mutation that did commit the first
 * time answers as it did then and is never applied twice (the key is ignored on queries and on
 * `register`/`login`). Anything else, and the last failure, is thrown: nothing is hidden.
 */
export async function gqlRetrying<T>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  token: string | undefined,
  options: { retryOn?: readonly string[]; attempts?: number; onRetry?: () => void } = {},
): Promise<T> {
  const { retryOn = ['SERVICE_UNAVAILABLE'], attempts = 8, onRetry } = options;
  const headers = { 'idempotency-key': randomUUID() };
  for (let attempt = 1; ; attempt++) {
    try {
      return await gql<T>(url, query, variables, token, headers);
    } catch (err) {
      const { code, retryAfter = 0 } = err as GqlError;
      if (typeof code !== 'string' || !retryOn.includes(code) || attempt >= attempts) throw err;
      onRetry?.();
      const backoff = Math.min(5_000, 100 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      await sleep(Math.max(retryAfter * 1000, backoff));
    }
  }
}

export const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));
