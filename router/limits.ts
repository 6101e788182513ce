import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { OperationLimits } from '#lib/config.js';

/**
 * The shape limits of an operation (graphql-armor): depth, aliases (of real fields only) and
 * directives. An operation over one fails validation: HTTP 400 with GRAPHQL_VALIDATION_FAILED
 * and a message naming the limit. The token limit is graphql-js's own (`parseOptions`): 400
 * with GRAPHQL_PARSE_FAILED, before the document is even built. Introspection is exempt from
 * depth (Sandbox needs it). What an operation costs is demand control's (pipeline.ts), which
 * sees the variables' values; graphql-armor's cost limit could read literals only.
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
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: production },
  }).protect();
  return { ...armor, parseOptions: { maxTokens: limits.maxTokens } };
}
