import { loadTelemetryConfig } from './config.js';
import { startTelemetry } from './telemetry.js';

/**
 * Imported first by every entry point, so the SDK is running before http, undici, graphql and
 * amqplib load (instrumentations patch them as they load). The role is the entry's: `router`,
 * a subgraph's name, or none for `npm start` (each service reports under its own name).
 */
const entry = process.argv[1] ?? '';
const role = /router[/\\]index\.[jt]s$/.test(entry)
  ? 'router'
  : /subgraphs[/\\]main\.[jt]s$/.test(entry)
    ? process.argv[2]
    : undefined;

export const telemetry = await startTelemetry(loadTelemetryConfig(process.env), role);
