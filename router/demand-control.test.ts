import { buildSchema, getOperationAST, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { costDirectivesOf, estimateCost } from './demand-control.js';

const SDL = `
  directive @cost(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | INPUT_FIELD_DEFINITION | OBJECT | SCALAR
  directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION

  type Query {
    book(id: ID): Book
    bestsellers: [Book] @listSize(assumedSize: 5)
    newest(limit: Int!): [Book] @listSize(slicingArguments: ["limit"])
    page(first: Int): BookConnection! @listSize(slicingArguments: ["first"], sizedFields: ["edges"], assumedSize: 20, requireOneSlicingArgument: false)
    everything: [Book]
    search(text: String @cost(weight: 7)): Book
  }
  type Mutation { addBook(title: String!): Book }
  type BookConnection { edges: [BookEdge!]! total: Int! }
  type BookEdge { node: Book! }
  type Book { title: String author: Author publisher: Publisher similar(first: Int): BookConnection! @listSize(slicingArguments: ["first"], sizedFields: ["edges"], assumedSize: 20, requireOneSlicingArgument: false) }
  type Author { name: String }
  type Publisher { name: String address: Address }
  type Address @cost(weight: 5) { zipCode: Int }
`;
const schema = buildSchema(SDL);
const directives = costDirectivesOf(SDL);

const cost = (query: string, variables: Record<string, unknown> = {}, defaultListSize = 10) => {
  const document = parse(query);
  const operation = getOperationAST(document);
  if (!operation) throw new Error('no operation');
  return estimateCost({ schema, directives, document, operation, variables, defaultListSize });
};

const BOOK = 'title author { name } publisher { name address { zipCode } }';

describe('estimated cost (the examples of Apollo Router’s demand control)', () => {
  it('weighs objects 1, scalars 0, and honours @cost on a type', () => {
    expect(cost(`{ book(id: 1) { ${BOOK} } }`)).toBe(1 + 1 + 1 + 5);
  });

  it('multiplies a list by its assumedSize, its slicing argument, or the default size', () => {
    expect(cost(`{ bestsellers { ${BOOK} } }`)).toBe(5 * 8);
    expect(cost(`{ newest(limit: 3) { ${BOOK} } }`)).toBe(3 * 8);
    expect(cost(`{ everything { title } }`, {}, 10)).toBe(10);
  });

  it('reads a slicing argument given as a variable, after coercion', () => {
    expect(cost(`query ($n: Int!) { newest(limit: $n) { ${BOOK} } }`, { n: 7 })).toBe(7 * 8);
    expect(cost(`query ($n: Int!) { newest(limit: $n) { ${BOOK} } }`, { n: 1000 })).toBe(8000);
  });

  it('sizes a connection’s edges by its first argument (sizedFields), else its assumedSize', () => {
    expect(cost('{ page(first: 50) { edges { node { title } } total } }')).toBe(1 + 50 * 2);
    expect(cost('{ page { edges { node { title } } } }')).toBe(1 + 20 * 2);
  });

  it('grows with every nested page: the amplification query is priced before it runs', () => {
    const nested = `query ($n: Int) { page(first: $n) { edges { node { similar(first: $n) { edges { node {
      similar(first: $n) { edges { node { title } } } } } } } } } }`;
    const small = cost(nested, { n: 2 });
    const large = cost(nested, { n: 100 });
    expect(small).toBe(1 + 2 * (2 + 1 + 2 * (2 + 1 + 2 * 2)));
    expect(large).toBe(1 + 100 * (2 + 1 + 100 * (2 + 1 + 100 * 2)));
  });

  it('adds 10 for a mutation and the weight of costly arguments given', () => {
    expect(cost('mutation { addBook(title: "x") { title } }')).toBe(10 + 1);
    expect(cost('{ search(text: "x") { title } }')).toBe(1 + 7);
    expect(cost('{ search { title } }')).toBe(1);
  });

  it('counts nothing for skipped fields and __typename, and follows fragments', () => {
    expect(
      cost(`query ($no: Boolean!) { book { author @skip(if: $no) { name } __typename } }`, {
        no: true,
      }),
    ).toBe(1);
    expect(
      cost('{ book { ...B } } fragment B on Book { author { name } publisher { name } }'),
    ).toBe(3);
    expect(cost('{ book { ... on Book { author { name } } } }')).toBe(2);
  });
});
