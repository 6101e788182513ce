import { loadConfig } from '#lib/config.js';
import { startMetricsServer } from '#lib/http.js';
import { createLogger } from '#lib/log.js';
import { onShutdown, warnAboutConfig } from '#lib/process.js';
import { telemetry } from '#lib/telemetry-start.js';
import { subgraphs } from './subgraphs/index.js';
import { startSupergraph } from './supergraph.js';

/** `npm start`: the whole supergraph in this process, embedded by default. */
const config = loadConfig(process.env, subgraphs);
// Readable lines in a terminal, JSON lines for a collector.
const log = createLogger({ level: config.logLevel, pretty: process.stdout.isTTY });
warnAboutConfig(config, log);
const supergraph = await startSupergraph({ config, log });
const metrics = await startMetricsServer(config, log);
const databases = Object.values(config.subgraphs).some(s => s.databaseUrl)
  ? 'Postgres'
  : `embedded PGlite under ${config.dataDir}/`;
const bus = config.amqpUrl ? 'RabbitMQ' : 'in-process event bus';
process.stdout.write(
  [
    '',
    `  Supergraph ready (${databases}, ${bus})`,
    `  GraphQL + Apollo Sandbox   ${supergraph.url}/graphql`,
    `  Health                     ${supergraph.url}/health   ${supergraph.url}/ready`,
    `  Metrics                    ${metrics ? `${metrics.url}/metrics` : `${supergraph.url}/metrics`}`,
    ...Object.values(supergraph.subgraphs).map(
      s => `  ${`${s.name} subgraph`.padEnd(27)}${s.url}/graphql`,
    ),
    '',
  ].join('\n') + '\n',
);
onShutdown(async () => {
  await supergraph.stop();
  await metrics?.close();
  await telemetry?.shutdown();
}, log);
