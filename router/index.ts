import { loadConfig } from '#lib/config.js';
import { listen } from '#lib/http.js';
import { createLogger } from '#lib/log.js';
import { onShutdown, warnAboutConfig } from '#lib/process.js';
import { createRouter, routerOptions } from './server.js';

/** Runs the router alone (one container of docker-compose). */
const config = loadConfig();
const log = createLogger({ level: config.logLevel, name: 'router' });
warnAboutConfig(config, log);
const router = await createRouter(routerOptions(config, log, config.subgraphUrls));
const { server, url } = await listen(router.handler, config.ports.router, config.host);
router.attach(server);
log.info({ url: `${url}/graphql` }, 'router listening');
onShutdown(async () => {
  await router.stop();
}, log);
