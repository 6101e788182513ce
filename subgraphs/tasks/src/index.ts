import { loadConfig } from '#lib/config.js';
import { createLogger } from '#lib/log.js';
import { onShutdown, openEventBus, warnAboutConfig } from '#lib/process.js';
import { startTasks } from './start.js';

/** Runs the tasks subgraph alone (one container of docker-compose). */
const config = loadConfig();
const log = createLogger({ level: config.logLevel, name: 'tasks' });
warnAboutConfig(config, log);
const bus = await openEventBus(config, log, 'tasks');
const tasks = await startTasks({ config, bus, log });
onShutdown(async () => {
  await tasks.stop();
  await bus.close();
}, log);
