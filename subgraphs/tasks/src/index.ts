import { runAlone } from '#lib/process.js';
import { startTasks } from './start.js';

/** Runs the tasks subgraph alone (one container of docker-compose). */
await runAlone('tasks', startTasks);
