import { loadConfig } from '#lib/config.js';
import { createLogger } from '#lib/log.js';
import { onShutdown, openEventBus, warnAboutConfig } from '#lib/process.js';
import { startNotifications } from './start.js';

/** Runs the notifications subgraph alone (one container of docker-compose). */
const config = loadConfig();
const log = createLogger({ level: config.logLevel, name: 'notifications' });
warnAboutConfig(config, log);
const bus = await openEventBus(config, log, 'notifications');
const notifications = await startNotifications({ config, bus, log });
onShutdown(async () => {
  await notifications.stop();
  await bus.close();
}, log);
