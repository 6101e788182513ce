// The SDK first: it must patch graphql, undici and amqplib before anything loads them. Static
// imports are sorted (prettier) and all evaluated before this module, so the rest is dynamic.
import { telemetry } from '#lib/telemetry-start.js';

const { runAlone } = await import('#lib/subgraph/run.js');
const { subgraphNamed, subgraphs } = await import('./index.js');

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
