import { GraphQLError } from 'graphql';

/** The code and field of the GraphQLError `fn` throws, or null when it throws nothing. */
export function thrown(fn: () => unknown): { code: unknown; field: unknown } | null {
  try {
    fn();
  } catch (err) {
    if (err instanceof GraphQLError)
      return { code: err.extensions.code, field: err.extensions.field };
    throw err;
  }
  return null;
}
