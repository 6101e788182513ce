import {
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  Kind,
  specifiedScalarTypes,
  TypeInfo,
  valueFromASTUntyped,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
  type ValueNode,
} from 'graphql';
import { error, ErrorCode } from '#lib/errors.js';
import { isCalendarDate, isTimestamp } from '#lib/input.js';

/**
 * The API's own scalars, checked at the router. The gateway serves the supergraph's scalars
 * as it finds them: declared, never defined, so they accept any value, and a `dueDate: 20240101`
 * reached the tasks subgraph, whose 400 the gateway turned into an error without a code. Here
 * a value of the wrong shape is BAD_USER_INPUT naming its field (`input.dueDate`), inline or
 * as a variable, before anything is planned. The rules are those the subgraphs apply
 * (#lib/input), so both say the same thing of the same value.
 */
const SCALAR_RULES: Readonly<Record<string, { valid(value: unknown): boolean; expected: string }>> =
  {
    Date: {
      valid: value => typeof value === 'string' && isCalendarDate(value),
      expected: 'a calendar date as YYYY-MM-DD',
    },
    DateTime: {
      valid: value => typeof value === 'string' && isTimestamp(value),
      expected: 'an ISO-8601 timestamp in UTC',
    },
  };

const BUILT_IN = new Set(specifiedScalarTypes.map(t => t.name));

/** The custom scalars of `schema` that no rule checks: what a test keeps empty. */
export function uncheckedScalars(schema: GraphQLSchema): string[] {
  return Object.values(schema.getTypeMap())
    .filter(t => isScalarType(t) && !BUILT_IN.has(t.name) && !(t.name in SCALAR_RULES))
    .map(t => t.name);
}

const refuse = (field: string, expected: string) =>
  error(ErrorCode.BAD_USER_INPUT, `${field} must be ${expected}`, { field }, 400);

/** Checks a variable's value (as given) against its type; throws naming the field. */
function checkValue(value: unknown, type: GraphQLInputType, path: string): void {
  if (value === null || value === undefined) return;
  if (isNonNullType(type)) return checkValue(value, type.ofType, path);
  if (isListType(type)) {
    // A single value stands for a list of one (input coercion).
    const items = Array.isArray(value) ? value : [value];
    items.forEach((item, i) => checkValue(item, type.ofType, `${path}.${i}`));
    return;
  }
  if (isInputObjectType(type)) {
    if (typeof value !== 'object' || Array.isArray(value)) return;
    const fields = type.getFields();
    for (const [name, field] of Object.entries(value as Record<string, unknown>)) {
      const definition = fields[name];
      if (definition) checkValue(field, definition.type, `${path}.${name}`);
    }
    return;
  }
  const rule = isScalarType(type) ? SCALAR_RULES[type.name] : undefined;
  if (rule && !rule.valid(value)) throw refuse(path, rule.expected);
}

/**
 * Refuses a custom scalar of the wrong shape anywhere in `document`: each literal argument,
 * and each variable's value where it is used (`variables` as the client sent them), named by
 * its place among the arguments (`filter.dueBefore`), as the subgraph checking it would name
 * it. Run once the document has been validated against `schema`.
 */
export function checkScalars(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown>,
): void {
  const typeInfo = new TypeInfo(schema);
  // Where a value is: argument and input-field names from the argument down.
  const path: string[] = [];
  const check = (node: ValueNode) => {
    const type = typeInfo.getInputType();
    if (!type) return;
    if (node.kind === Kind.VARIABLE) {
      checkValue(variables[node.name.value], type, path.join('.'));
      return;
    }
    // A list literal's items are visited with the item type; a list or object where a
    // scalar belongs is one wrong value.
    const nullable = isNonNullType(type) ? type.ofType : type;
    const rule = isScalarType(nullable) ? SCALAR_RULES[nullable.name] : undefined;
    if (rule && node.kind !== Kind.NULL && !rule.valid(valueFromASTUntyped(node)))
      throw refuse(path.join('.'), rule.expected);
  };
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Argument: { enter: node => void path.push(node.name.value), leave: () => void path.pop() },
      ObjectField: { enter: node => void path.push(node.name.value), leave: () => void path.pop() },
      // Variable definitions name variables, not values: their defaults are literals.
      VariableDefinition: () => false,
      Variable: check,
      StringValue: check,
      IntValue: check,
      FloatValue: check,
      BooleanValue: check,
      EnumValue: check,
      ListValue: check,
      ObjectValue: check,
    }),
  );
}
