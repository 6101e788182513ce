import { readFileSync } from 'node:fs';
import {
  buildSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isScalarType,
  type GraphQLNamedType,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { Supergraph } from '@apollo/federation-internals';
import { SUPERGRAPH_PATH } from '../../schema/paths.js';

/**
 * The public API contract (schema/contract.graphql): the composed API schema has every
 * type, field, argument, input field and enum value it names, with the same types.
 */
// A copy of a contract owned outside this repo; scripts/check-generated.ts keeps it in step.
const CONTRACT_PATH = new URL('../../schema/contract.graphql', import.meta.url);
// The names of the email work (../shared/contract/next/email.graphql), until they join the API
// contract: its `extend type User` and `extend type Mutation` apply to the contract's types.
const EMAIL_CONTRACT_PATH = new URL('../../schema/contract-email.graphql', import.meta.url);
const contract = buildSchema(
  `${readFileSync(CONTRACT_PATH, 'utf8')}\n${readFileSync(EMAIL_CONTRACT_PATH, 'utf8')}`,
);
const api = Supergraph.build(readFileSync(SUPERGRAPH_PATH, 'utf8')).apiSchema().toGraphQLJSSchema();

const named = Object.values(contract.getTypeMap()).filter(t => !t.name.startsWith('__'));

function describeType(type: GraphQLNamedType): string[] {
  if (isEnumType(type)) return type.getValues().map(v => `${type.name}.${v.name}`);
  if (isInputObjectType(type))
    return Object.values(type.getFields()).map(f => `${type.name}.${f.name}: ${String(f.type)}`);
  if (isObjectType(type) || isInterfaceType(type)) {
    return Object.values(type.getFields()).flatMap(f => [
      `${type.name}.${f.name}: ${String(f.type)}`,
      ...f.args.map(a => `${type.name}.${f.name}(${a.name}: ${String(a.type)})`),
    ]);
  }
  return [type.name];
}

describe('the composed API against shared/contract/api.graphql', () => {
  it.each(named.map(t => [t.name, t] as const))('has %s as the contract says', (name, type) => {
    const actual = api.getType(name);
    expect(actual, `type ${name}`).toBeDefined();
    expect(actual!.constructor.name).toBe(type.constructor.name);
    if (isScalarType(type)) return;
    const have = new Set(describeType(actual!));
    for (const item of describeType(type)) expect(have, item).toContain(item);
  });
});
