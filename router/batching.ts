import {
  Kind,
  OperationTypeNode,
  parse,
  print,
  visit,
  type DocumentNode,
  type FieldNode,
  type GraphQLFormattedError,
  type OperationDefinitionNode,
} from 'graphql';

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

const MAX_CACHED = 1_000;
const remember = <K, V>(cache: Map<K, V>, key: K, value: V): V => {
  if (cache.size >= MAX_CACHED) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(key, value);
  return value;
};

const entityFetches = new Map<string, EntityFetch | null>();

/**
 * The operation if it is a plain entity fetch: one query operation, no fragment definitions,
 * a single root field `_entities` without alias or directives. Plans are cached by the
 * gateway, so the same few operation strings come back: the answer is cached by string.
 */
export function entityFetchOf(query: string, document?: DocumentNode): EntityFetch | null {
  const cached = entityFetches.get(query);
  if (cached !== undefined) return cached;
  let doc: DocumentNode;
  try {
    doc = document ?? parse(query);
  } catch {
    return remember(entityFetches, query, null);
  }
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
  return remember(
    entityFetches,
    query,
    batchable ? { definition, operationName: definition.name?.value } : null,
  );
}

const aliasOf = (index: number) => `_${index}_entities`;

interface MergedShape {
  query: string;
  operationName: string | undefined;
}
const merged = new Map<string, MergedShape>();

/** One operation doing every fetch: variables suffixed `_<i>`, root fields aliased `_<i>_entities`. */
export function mergeEntityFetches(
  fetches: ReadonlyArray<{ query: string; fetch: EntityFetch; variables: Record<string, unknown> }>,
): { query: string; operationName: string | undefined; variables: Record<string, unknown> } {
  const key = fetches.map(f => f.query).join('\u0000');
  const shape =
    merged.get(key) ??
    remember(
      merged,
      key,
      ((): MergedShape => {
        const parts = fetches.map(({ fetch }, i) =>
          visit(fetch.definition, {
            Variable: node => ({
              ...node,
              name: { ...node.name, value: `${node.name.value}_${i}` },
            }),
          }),
        );
        const operationName = fetches[0]?.fetch.operationName
          ? `${fetches[0].fetch.operationName}__batch`
          : undefined;
        const definition: OperationDefinitionNode = {
          kind: Kind.OPERATION_DEFINITION,
          operation: 'query' as OperationDefinitionNode['operation'],
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
        return { query: print({ kind: Kind.DOCUMENT, definitions: [definition] }), operationName };
      })(),
    );
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
