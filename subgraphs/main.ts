// First: the SDK must patch graphql, undici and amqplib before anything imports them.
import { runAlone } from '#lib/subgraph/run.js';
import { telemetry } from '#lib/telemetry-start.js';
import { subgraphNamed, subgraphs } from './index.js';

/**
 * Runs one subgraph as its own process (one container of docker-compose):
 * `tsx subgraphs/main.ts users`, or `node subgraphs/main.js users` in the image.
 */
const name = process.argv[2] ?? '';
const subgraph = subgraphNamed(name);
if (!subgraph) {
  process.stderr.write(
    `usage: subgraphs/main.ts <${subgraphs.map(s => s.name).join('|')}> (got "${name}")\n`,
  );
  process.exit(2);
}
await runAlone(subgraph, subgraphs, async () => telemetry?.shutdown());
