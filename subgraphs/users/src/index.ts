import { runAlone } from '#lib/process.js';
import { startUsers } from './start.js';

/** Runs the users subgraph alone (one container of docker-compose). */
await runAlone('users', startUsers);
