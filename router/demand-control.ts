import {
  getNamedType,
  getNullableType,
  isAbstractType,
  isCompositeType,
  isListType,
  isObjectType,
  Kind,
  parse,
  type DirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { getArgumentValues } from 'graphql/execution/values.js';

/**
 * Demand control in the manner of Apollo Router's static estimate (the IBM GraphQL cost
 * specification, with Federation's `@cost` and `@listSize`): the cost of an operation is known
 * from the schema, the document and the coerced variables, before anything is fetched.
 *
 * - An operation costs its type's base (mutation 10, query and subscription 0) plus its fields.
 * - A field costs its weight — `@cost(weight:)` on the field, else on its type, else 1 for an
 *   object, interface or union and 0 for a scalar or enum — plus its selections, times the
 *   number of instances when it is a list, plus the `@cost` weights of the arguments given.
 * - A list's size is the largest of its `@listSize(slicingArguments:)` given (`first: $n`
 *   reads `$n`), else its `assumedSize`, else `defaultListSize`. On a connection,
 *   `sizedFields: ["edges"]` gives the child list that size instead.
 * - Fields skipped by `@skip`/`@include` cost nothing; fragments on different types of an
 *   abstract type are all counted (an upper bound).
 */

/** What the supergraph says of one field or type. */
interface ListSize {
  assumedSize?: number;
  slicingArguments: readonly string[];
  sizedFields: readonly string[];
}

export interface CostDirectives {
  /** `@cost` weights by `Type` and by `Type.field` (and `Type.field(arg:)`). */
  weights: ReadonlyMap<string, number>;
  /** `@listSize` by `Type.field`. */
  listSizes: ReadonlyMap<string, ListSize>;
}

const OPERATION_BASE = { query: 0, mutation: 10, subscription: 0 } as const;

/** The cost spec's directive names, imported (`@cost`) or namespaced (`@cost__listSize`). */
const isDirective = (node: DirectiveNode, name: 'cost' | 'listSize') =>
  node.name.value === name || node.name.value === `cost__${name}`;

const intArgument = (node: DirectiveNode, name: string): number | undefined => {
  const value = node.arguments?.find(a => a.name.value === name)?.value;
  return value?.kind === Kind.INT ? Number(value.value) : undefined;
};

const stringsArgument = (node: DirectiveNode, name: string): string[] => {
  const value = node.arguments?.find(a => a.name.value === name)?.value;
  if (value?.kind === Kind.LIST)
    return value.values.flatMap(v => (v.kind === Kind.STRING ? [v.value] : []));
  return value?.kind === Kind.STRING ? [value.value] : [];
};

/**
 * Reads `@cost` and `@listSize` from the composed supergraph (composition keeps them: each
 * subgraph imports them from Federation 2.9). Built once per supergraph load.
 */
export function costDirectivesOf(supergraphSdl: string): CostDirectives {
  const weights = new Map<string, number>();
  const listSizes = new Map<string, ListSize>();
  const weightOf = (key: string, directives: readonly DirectiveNode[] | undefined) => {
    const cost = directives?.find(d => isDirective(d, 'cost'));
    const weight = cost && intArgument(cost, 'weight');
    if (weight !== undefined) weights.set(key, weight);
  };
  for (const definition of parse(supergraphSdl, { noLocation: true }).definitions) {
    if (
      definition.kind !== Kind.OBJECT_TYPE_DEFINITION &&
      definition.kind !== Kind.INTERFACE_TYPE_DEFINITION &&
      definition.kind !== Kind.UNION_TYPE_DEFINITION &&
      definition.kind !== Kind.SCALAR_TYPE_DEFINITION &&
      definition.kind !== Kind.ENUM_TYPE_DEFINITION
    )
      continue;
    const type = definition.name.value;
    weightOf(type, definition.directives);
    if (
      definition.kind !== Kind.OBJECT_TYPE_DEFINITION &&
      definition.kind !== Kind.INTERFACE_TYPE_DEFINITION
    )
      continue;
    for (const field of definition.fields ?? []) {
      const key = `${type}.${field.name.value}`;
      weightOf(key, field.directives);
      for (const arg of field.arguments ?? [])
        weightOf(`${key}(${arg.name.value}:)`, arg.directives);
      const listSize = field.directives?.find(d => isDirective(d, 'listSize'));
      if (listSize) {
        const assumedSize = intArgument(listSize, 'assumedSize');
        listSizes.set(key, {
          ...(assumedSize !== undefined ? { assumedSize } : {}),
          slicingArguments: stringsArgument(listSize, 'slicingArguments'),
          sizedFields: stringsArgument(listSize, 'sizedFields'),
        });
      }
    }
  }
  return { weights, listSizes };
}

export interface EstimateOptions {
  /** The API schema the operation was validated against. */
  schema: GraphQLSchema;
  directives: CostDirectives;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  /** Coerced variable values. */
  variables: Record<string, unknown>;
  /** The size assumed for a list without `@listSize`. */
  defaultListSize: number;
}

/** The estimated cost of `operation`. Assumes the document is valid against `schema`. */
export function estimateCost(options: EstimateOptions): number {
  const { schema, directives, variables, defaultListSize } = options;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of options.document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION)
      fragments.set(definition.name.value, definition);
  }

  const included = (node: { directives?: readonly DirectiveNode[] }): boolean => {
    for (const directive of node.directives ?? []) {
      const name = directive.name.value;
      if (name !== 'skip' && name !== 'include') continue;
      const condition = directive.arguments?.find(a => a.name.value === 'if')?.value;
      const value = condition ? literalOrVariable(condition, variables) : undefined;
      if (name === 'skip' && value === true) return false;
      if (name === 'include' && value === false) return false;
    }
    return true;
  };

  /** How many items a list gets from `@listSize` and the arguments of `node`. */
  const expectedSize = (
    listSize: ListSize,
    field: GraphQLField<unknown, unknown>,
    node: FieldNode,
  ): number | undefined => {
    if (listSize.slicingArguments.length > 0) {
      const args = getArgumentValues(field, node, variables);
      const given = listSize.slicingArguments
        .map(path =>
          path.split('.').reduce<unknown>((v, key) => (isRecord(v) ? v[key] : undefined), args),
        )
        .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      if (given.length > 0) return Math.max(0, ...given);
    }
    return listSize.assumedSize;
  };

  const selectionCost = (
    selectionSet: SelectionSetNode,
    parent: GraphQLNamedType,
    /** `sizedFields` of the parent's `@listSize`, with the size they take. */
    sized: { fields: readonly string[]; size: number } | undefined,
    visiting: ReadonlySet<string>,
  ): number => {
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (!included(selection)) continue;
      if (selection.kind === Kind.FIELD) {
        total += fieldCost(selection, parent, sized, visiting);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition
          ? schema.getType(selection.typeCondition.name.value)
          : parent;
        if (on) total += selectionCost(selection.selectionSet, on, sized, visiting);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        // Validation refuses cycles; the guard keeps a bad document from looping here anyway.
        if (!fragment || visiting.has(name)) continue;
        const on = schema.getType(fragment.typeCondition.name.value);
        if (on)
          total += selectionCost(fragment.selectionSet, on, sized, new Set([...visiting, name]));
      }
    }
    return total;
  };

  const fieldCost = (
    node: FieldNode,
    parent: GraphQLNamedType,
    sized: { fields: readonly string[]; size: number } | undefined,
    visiting: ReadonlySet<string>,
  ): number => {
    const name = node.name.value;
    if (name.startsWith('__') || !(isObjectType(parent) || isAbstractType(parent))) return 0;
    // An abstract type's fields are the interface's; a union has only __typename.
    const fields = 'getFields' in parent ? parent.getFields() : {};
    const field = fields[name];
    if (!field) return 0;
    const key = `${parent.name}.${name}`;
    const returned = getNamedType(field.type);
    const weight =
      directives.weights.get(key) ??
      directives.weights.get(returned.name) ??
      (isCompositeType(returned) ? 1 : 0);
    const listSize = directives.listSizes.get(key);
    const size = listSize ? expectedSize(listSize, field, node) : undefined;
    const childSized =
      listSize && listSize.sizedFields.length > 0
        ? { fields: listSize.sizedFields, size: size ?? defaultListSize }
        : undefined;
    const children = node.selectionSet
      ? selectionCost(node.selectionSet, returned, childSized, visiting)
      : 0;
    const isList = isListType(getNullableType(field.type));
    const instances = !isList
      ? 1
      : sized?.fields.includes(name)
        ? sized.size
        : childSized
          ? defaultListSize
          : (size ?? defaultListSize);
    let argumentsCost = 0;
    for (const argument of node.arguments ?? []) {
      argumentsCost += directives.weights.get(`${key}(${argument.name.value}:)`) ?? 0;
    }
    return instances * (weight + children) + argumentsCost;
  };

  const root = schema.getRootType(options.operation.operation);
  if (!root) return 0;
  return (
    OPERATION_BASE[options.operation.operation] +
    selectionCost(options.operation.selectionSet, root, undefined, new Set())
  );
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

function literalOrVariable(node: ValueNode, variables: Record<string, unknown>): unknown {
  if (node.kind === Kind.VARIABLE) return variables[node.name.value];
  if (node.kind === Kind.BOOLEAN) return node.value;
  return undefined;
}
