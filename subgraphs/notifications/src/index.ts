import { runAlone } from '#lib/process.js';
import { startNotifications } from './start.js';

/** Runs the notifications subgraph alone (one container of docker-compose). */
await runAlone('notifications', startNotifications);
