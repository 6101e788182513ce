import { getOperationAST, OperationTypeNode, parse, type DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';

/**
 * Parsed subgraph operations by their text. The gateway caches its query plans, so a
 * running router sends the same few operation strings again and again; `false` remembers
 * a text that does not parse (lru-cache keeps no `null`).
 */
const documents = new LRUCache<string, DocumentNode | false>({ max: 1_000 });

/**
 * The document of a subgraph request: the one the plan carries when it has one, else the
 * request's text parsed (once per distinct text); `null` when it does not parse.
 */
export function documentOf(query: string, document?: DocumentNode): DocumentNode | null {
  if (document) return document;
  let parsed = documents.get(query);
  if (parsed === undefined) {
    try {
      parsed = parse(query);
    } catch {
      parsed = false;
    }
    documents.set(query, parsed);
  }
  return parsed || null;
}

/** Whether the operation a subgraph request runs is a query (not a mutation or subscription). */
export function isQueryOperation(
  query: string,
  document: DocumentNode | undefined,
  operationName: string | null | undefined,
): boolean {
  const parsed = documentOf(query, document);
  return (
    parsed !== null &&
    getOperationAST(parsed, operationName ?? undefined)?.operation === OperationTypeNode.QUERY
  );
}
