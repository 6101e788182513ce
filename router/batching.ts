import {
  Kind,
  OperationTypeNode,
  print,
  visit,
  type DocumentNode,
  type FieldNode,
  type GraphQLFormattedError,
  type OperationDefinitionNode,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { RouterContext } from './context.js';
import { documentOf } from './operation.js';

/**
 * Batching of entity fetches. A query plan often fetches entities of one subgraph at
 * several paths in parallel — `tasks { owner { displayName } assignee { displayName } }`
 * is one `_entities` fetch for the owners and one for the assignees, both to users. The
 * router sends such fetches of one request, issued together, as one operation with one
 * aliased `_entities` field each: one HTTP round trip instead of several, and the subgraph's
 * DataLoaders see every key at once (one SQL statement). Each fetch gets back exactly its
 * own part of the answer, as if it had been sent alone.
 */

/** An `_entities` query of a plan, ready to merge; `null` when it cannot be batched. */
export interface EntityFetch {
  definition: OperationDefinitionNode;
  operationName: string | undefined;
}

/**
 * The operation if it is a plain entity fetch: one query operation, no fragment definitions,
 * a single root field `_entities` without alias or directives. The text is parsed once
 * (operation.ts); what is left here is a few property reads.
 */
export function entityFetchOf(query: string, document?: DocumentNode): EntityFetch | null {
  const doc = documentOf(query, document);
  if (!doc) return null;
  const [definition, ...others] = doc.definitions;
  const field =
    definition?.kind === Kind.OPERATION_DEFINITION
      ? definition.selectionSet.selections[0]
      : undefined;
  const batchable =
    definition?.kind === Kind.OPERATION_DEFINITION &&
    others.length === 0 &&
    definition.operation === OperationTypeNode.QUERY &&
    (definition.directives?.length ?? 0) === 0 &&
    definition.selectionSet.selections.length === 1 &&
    field?.kind === Kind.FIELD &&
    field.name.value === '_entities' &&
    !field.alias &&
    (field.directives?.length ?? 0) === 0;
  return batchable ? { definition, operationName: definition.name?.value } : null;
}

const aliasOf = (index: number) => `_${index}_entities`;

interface MergedShape {
  query: string;
  document: DocumentNode;
  operationName: string | undefined;
}
/** Merged operations by the texts they merge: plans, and so their fetches, recur. */
const merged = new LRUCache<string, MergedShape>({ max: 1_000 });

type FetchToMerge = { query: string; fetch: EntityFetch; variables: Record<string, unknown> };

function mergedShape(fetches: ReadonlyArray<FetchToMerge>): MergedShape {
  const parts = fetches.map(({ fetch }, i) =>
    visit(fetch.definition, {
      Variable: node => ({ ...node, name: { ...node.name, value: `${node.name.value}_${i}` } }),
    }),
  );
  const operationName = fetches[0]?.fetch.operationName
    ? `${fetches[0].fetch.operationName}__batch`
    : undefined;
  const definition: OperationDefinitionNode = {
    kind: Kind.OPERATION_DEFINITION,
    operation: OperationTypeNode.QUERY,
    ...(operationName ? { name: { kind: Kind.NAME, value: operationName } } : {}),
    variableDefinitions: parts.flatMap(p => p.variableDefinitions ?? []),
    directives: [],
    selectionSet: {
      kind: Kind.SELECTION_SET,
      selections: parts.map((p, i) => ({
        ...(p.selectionSet.selections[0] as FieldNode),
        alias: { kind: Kind.NAME, value: aliasOf(i) },
      })),
    },
  };
  const document: DocumentNode = { kind: Kind.DOCUMENT, definitions: [definition] };
  return { query: print(document), document, operationName };
}

/** One operation doing every fetch: variables suffixed `_<i>`, root fields aliased `_<i>_entities`. */
export function mergeEntityFetches(
  fetches: ReadonlyArray<FetchToMerge>,
): MergedShape & { variables: Record<string, unknown> } {
  const key = fetches.map(f => f.query).join('\u0000');
  let shape = merged.get(key);
  if (!shape) {
    shape = mergedShape(fetches);
    merged.set(key, shape);
  }
  const variables: Record<string, unknown> = {};
  fetches.forEach((f, i) => {
    for (const [name, value] of Object.entries(f.variables)) variables[`${name}_${i}`] = value;
  });
  return { ...shape, variables };
}

interface ResponseLike {
  data?: Record<string, unknown> | null;
  errors?: ReadonlyArray<GraphQLFormattedError>;
}

/** The part of a merged answer that belongs to fetch `index`, shaped as its own answer. */
export function splitEntityResponse<R extends ResponseLike>(response: R, index: number): R {
  const alias = aliasOf(index);
  const data = response.data ? { _entities: response.data[alias] ?? null } : response.data;
  // Errors with a path belong to the fetch whose alias starts it; others (no path) to all.
  const errors = (response.errors ?? [])
    .filter(e => !e.path || e.path[0] === alias)
    .map(e => (e.path ? { ...e, path: ['_entities', ...e.path.slice(1)] } : e));
  const { errors: _all, ...rest } = response;
  return { ...rest, data, ...(errors.length > 0 ? { errors } : {}) } as R;
}

type Process = GraphQLDataSource<RouterContext>['process'];
type GatewayGraphQLResponse = Awaited<ReturnType<Process>>;

/** The options of a fetch that a client operation's plan makes (not a health check). */
type OperationFetchOptions = Extract<
  GraphQLDataSourceProcessOptions<RouterContext>,
  { incomingRequestContext: unknown }
>;

interface PendingFetch {
  options: OperationFetchOptions;
  fetch: EntityFetch;
  resolve: (response: GatewayGraphQLResponse) => void;
  reject: (err: unknown) => void;
}

/**
 * `source`, sending the entity fetches of one request (one context object: one viewer)
 * that are issued in the same tick as one merged operation. Anything else — other
 * operations, health checks, a fetch alone in its tick — goes to `source` as it is.
 */
export function batchEntityFetches(
  source: GraphQLDataSource<RouterContext>,
): GraphQLDataSource<RouterContext> {
  /** Entity fetches waiting for the end of the current tick, by the request (context) they serve. */
  const pending = new Map<object, PendingFetch[]>();

  const flush = (key: object): void => {
    const batch = pending.get(key) ?? [];
    pending.delete(key);
    const [first] = batch;
    if (!first) return;
    if (batch.length === 1) {
      source.process(first.options).then(first.resolve, first.reject);
      return;
    }
    const { query, document, operationName, variables } = mergeEntityFetches(
      batch.map(b => ({
        query: b.options.request.query ?? '',
        fetch: b.fetch,
        variables: b.options.request.variables ?? {},
      })),
    );
    source
      .process({
        ...first.options,
        // The merged operation's own document, so the data source need not parse it.
        document,
        request: { ...first.options.request, query, variables, operationName },
      })
      .then(
        response => batch.forEach((b, i) => b.resolve(splitEntityResponse(response, i))),
        (err: unknown) => batch.forEach(b => b.reject(err)),
      );
  };

  return {
    process: options => {
      if (!('incomingRequestContext' in options) || !options.request.query)
        return source.process(options);
      const fetch = entityFetchOf(options.request.query, options.document);
      if (!fetch) return source.process(options);
      const key = options.context as object;
      return new Promise<GatewayGraphQLResponse>((resolve, reject) => {
        let batch = pending.get(key);
        if (!batch) {
          batch = [];
          pending.set(key, batch);
          // After the promise jobs queued now: a plan's parallel fetches all get here first.
          process.nextTick(() => flush(key));
        }
        batch.push({ options, fetch, resolve, reject });
      });
    },
  };
}
