import { loadConfig } from '#lib/config.js';
import { createLogger } from '#lib/log.js';
import { onShutdown, openEventBus, warnAboutConfig } from '#lib/process.js';
import { startUsers } from './start.js';

/** Runs the users subgraph alone (one container of docker-compose). */
const config = loadConfig();
const log = createLogger({ level: config.logLevel, name: 'users' });
warnAboutConfig(config, log);
const bus = await openEventBus(config, log, 'users');
const users = await startUsers({ config, bus, log });
onShutdown(async () => {
  await users.stop();
  await bus.close();
}, log);
