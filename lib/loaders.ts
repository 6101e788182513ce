import DataLoader from 'dataloader';

/**
 * A per-request DataLoader of rows by id: one statement per batch (`fetch` gets every id of
 * the batch), and null for an id with no row. Every subgraph's entity look-ups use it.
 */
export function loaderById<T extends { id: string }>(
  fetch: (ids: readonly string[]) => Promise<T[]>,
) {
  return new DataLoader<string, T | null>(async ids => {
    const rows = new Map((await fetch(ids)).map(row => [row.id, row]));
    return ids.map(id => rows.get(id) ?? null);
  });
}
