import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

const notAString = (value: unknown) =>
  new GraphQLError(`Date must be a string as YYYY-MM-DD, got ${JSON.stringify(value)}`, {
    extensions: { code: 'BAD_USER_INPUT' },
  });

/**
 * `Date`: a calendar date, YYYY-MM-DD. Parsing accepts any string; the resolver taking
 * the date checks it with `calendarDate` in validation.ts, which names the argument, so a
 * malformed date is BAD_USER_INPUT with its `field` whether written inline or sent as a
 * variable (a scalar's own parse error would be GRAPHQL_VALIDATION_FAILED inline).
 */
export const DateScalar = new GraphQLScalarType<string, string>({
  name: 'Date',
  description: 'Calendar date, YYYY-MM-DD',
  // Dates leave the database as YYYY-MM-DD strings already (drizzle `date`, mode 'string').
  serialize: value => {
    if (typeof value !== 'string') throw new TypeError(`Date cannot represent ${String(value)}`);
    return value;
  },
  parseValue: value => {
    if (typeof value !== 'string') throw notAString(value);
    return value;
  },
  parseLiteral: ast => {
    if (ast.kind !== Kind.STRING) throw notAString(ast.kind);
    return ast.value;
  },
});
