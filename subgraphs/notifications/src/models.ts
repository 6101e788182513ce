/**
 * References to entities other subgraphs own: `{ id }` is all this subgraph knows of a
 * task or of a user's profile, and the router fetches the rest from their owners.
 */
export interface UserRef {
  id: string;
}

export interface TaskRef {
  id: string;
}
