import { readFileSync } from 'node:fs';
import { loadConfig } from '#lib/config.js';
import { listen, startMetricsServer } from '#lib/http.js';
import { createLogger } from '#lib/log.js';
import { onShutdown, openEventBus, warnAboutConfig } from '#lib/process.js';
import type { Telemetry } from '#lib/telemetry.js';
import { SUPERGRAPH_PATH } from '../schema/paths.js';
import { createRouter, routerOptions } from './server.js';
import { subgraphsOf } from './subgraphs.js';

/**
 * Runs the router alone (one container of docker-compose), in front of the supergraph's subgraphs.
 * `telemetry`: the SDK its entry point started first (router/index.ts), stopped last.
 */
export async function runRouter(telemetry: Telemetry | undefined): Promise<void> {
  const config = loadConfig(process.env, subgraphsOf(readFileSync(SUPERGRAPH_PATH, 'utf8')));
  const log = createLogger({ level: config.logLevel, name: 'router' });
  warnAboutConfig(config, log);
  const urls = Object.fromEntries(
    Object.entries(config.subgraphs).map(([name, s]) => [name, s.url]),
  );
  // The router consumes no work queue; it reads revocations from its own live queue.
  const bus = await openEventBus(config, log, { queues: {}, service: 'router' });
  const router = await createRouter({ ...routerOptions(config, log, urls, bus), standalone: true });
  const { server, url } = await listen(router.handler, config.routerPort, config.host);
  router.attach(server);
  log.info({ url: `${url}/graphql` }, 'router listening');
  const metrics = await startMetricsServer(config, log);
  onShutdown(async () => {
    await router.stop();
    await bus.close();
    await metrics?.close();
    await telemetry?.shutdown();
  }, log);
}
