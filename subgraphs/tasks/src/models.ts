/**
 * What `User` resolvers of this subgraph receive: a reference by id. The users subgraph
 * resolves everything else about the user through the router.
 */
export interface UserRef {
  id: string;
}

export const userRef = (id: string): UserRef => ({ id });
