import type { SubgraphDescriptor } from '#lib/subgraph/descriptor.js';
import { notifications } from './notifications/src/subgraph.js';
import { tasks } from './tasks/src/subgraph.js';
import { users } from './users/src/subgraph.js';

/**
 * The subgraphs of this supergraph, in start order (tasks and notifications consume what users
 * publishes). Everything that names a subgraph reads this list: the one-process supergraph, each
 * subgraph's own process (subgraphs/main.ts), composition, codegen, the migrations check, the
 * config's per-subgraph variables and the bus's work queues. Adding a subgraph is adding it here.
 */
const list = [users, tasks, notifications] as const;
export const subgraphs: readonly SubgraphDescriptor[] = list;

/** `users`, `tasks` or `notifications`. */
export type SubgraphName = (typeof list)[number]['name'];

/** The descriptor named `name`, or undefined. */
export const subgraphNamed = (name: string) => subgraphs.find(s => s.name === name);
