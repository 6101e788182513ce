// The SDK first: it must patch graphql, undici and amqplib before anything loads them. Static
// imports are sorted (prettier) and all evaluated before this module, so the rest is dynamic.
import { telemetry } from '#lib/telemetry-start.js';

const { runSupergraph } = await import('./supergraph.js');
await runSupergraph(telemetry);
