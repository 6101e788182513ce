import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { OperationLimits } from '#lib/config.js';

/**
 * Operation limits (graphql-armor): depth, aliases, directives and cost. An operation
 * over a limit fails validation: HTTP 400 with GRAPHQL_VALIDATION_FAILED and a message
 * naming the limit. The token limit is graphql-js's own (`parseOptions`): 400 with
 * GRAPHQL_PARSE_FAILED, before the document is even built. Introspection is exempt from depth and cost (Sandbox needs it).
 * In production, "did you mean …" suggestions are removed so the schema does not leak.
 */
export function operationLimits(limits: OperationLimits, production: boolean) {
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: true },
    maxAliases: { n: limits.maxAliases },
    // graphql-armor's Apollo token limit throws from a plugin hook, which Apollo answers
    // with a 500; graphql-js enforces the same limit in the parser itself (parseOptions).
    maxTokens: { enabled: false },
    maxDirectives: { n: limits.maxDirectives },
    costLimit: { maxCost: limits.maxCost, ignoreIntrospection: true },
    blockFieldSuggestion: { enabled: production },
  }).protect();
  return { ...armor, parseOptions: { maxTokens: limits.maxTokens } };
}
