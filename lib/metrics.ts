import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { ConsumeOptions, EventBus } from './events/bus.js';
import { PoisonMessageError } from './events/envelope.js';

/**
 * Prometheus metrics of this process, served at `/metrics` by every service. One registry
 * per process; every series carries the `service` it is about, so the one-process mode and
 * one-service containers expose the same names.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const graphqlRequests = new Counter({
  name: 'graphql_requests_total',
  help: 'GraphQL operations served, by service, operation name and outcome',
  labelNames: ['service', 'operation', 'outcome'] as const,
  registers: [registry],
});
const graphqlDuration = new Histogram({
  name: 'graphql_request_duration_seconds',
  help: 'Time to answer a GraphQL operation',
  labelNames: ['service', 'operation'] as const,
  buckets: latencyBuckets,
  registers: [registry],
});
export const subgraphFetchDuration = new Histogram({
  name: 'router_subgraph_fetch_duration_seconds',
  help: 'Time of one router fetch to a subgraph',
  labelNames: ['subgraph'] as const,
  buckets: latencyBuckets,
  registers: [registry],
});
export const subgraphFetchErrors = new Counter({
  name: 'router_subgraph_fetch_errors_total',
  help: 'Router fetches to a subgraph that failed (network, timeout or HTTP status >= 500)',
  labelNames: ['subgraph'] as const,
  registers: [registry],
});
/** The users service's mail sender (subgraphs/users/src/mail/outbox.ts). */
export const mailOutcomes = new Counter({
  name: 'mail_messages_total',
  help: 'Mail the users service handed to its transport, by outcome: sent, retried (down or 4xx) or failed (5xx, for good)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});
const eventsHandled = new Counter({
  name: 'events_handled_total',
  help: 'Events taken from a work queue, by outcome: applied, dead-lettered (poison) or retried',
  labelNames: ['queue', 'outcome'] as const,
  registers: [registry],
});
const consumerLag = new Histogram({
  name: 'events_consumer_lag_seconds',
  help: 'Time from an event happening to a consumer applying it',
  labelNames: ['queue'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120],
  registers: [registry],
});

type Sample = () => number | Promise<number>;

/** A gauge whose value is read when scraped, from one source per label set. */
function sampledGauge<L extends string>(name: string, help: string, labelNames: readonly L[]) {
  const sources = new Map<string, { labels: Record<L, string>; sample: Sample }>();
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        [...sources.values()].map(async ({ labels, sample }) => {
          try {
            this.set(labels, await sample());
          } catch {
            // A source that cannot answer (broker down) is left out of this scrape.
          }
        }),
      );
    },
  });
  return (labels: Record<L, string>, sample: Sample): (() => void) => {
    const key = JSON.stringify(labels);
    sources.set(key, { labels, sample });
    return () => sources.delete(key);
  };
}

export const sampleOutboxBacklog = sampledGauge(
  'outbox_backlog',
  'Events written but not yet published',
  ['service'],
);
export const sampleDeadLetters = sampledGauge(
  'events_dead_lettered',
  'Messages waiting in the dead-letter queue',
  ['bus'],
);
export const sampleRouterSockets = sampledGauge(
  'router_websockets_open',
  'Client WebSockets open at the router',
  ['service'],
);
export const sampleSubscriptions = sampledGauge(
  'router_subscriptions_active',
  'Subscriptions served: client-side, and distinct upstream ones to subgraphs',
  ['side'],
);

/** At most this many operation names get their own series; the rest count as "other". */
const MAX_OPERATION_NAMES = 200;
const knownOperations = new Set<string>();
function operationLabel(name: string | null | undefined): string {
  if (!name) return 'anonymous';
  const label = name.slice(0, 64);
  if (knownOperations.has(label)) return label;
  if (knownOperations.size >= MAX_OPERATION_NAMES) return 'other';
  knownOperations.add(label);
  return label;
}

/** Counts and times every GraphQL operation a server answers. */
export function metricsPlugin<TContext extends BaseContext>(
  service: string,
): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse({ operationName, errors }) {
          const operation = operationLabel(operationName);
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          graphqlDuration.observe({ service, operation }, seconds);
          graphqlRequests.inc({ service, operation, outcome: errors?.length ? 'error' : 'ok' });
        },
      };
    },
  };
}

/** The bus as a service's consumers see it: every handled event is counted and its lag observed. */
export function instrumentBus(bus: EventBus): EventBus {
  return {
    ...bus,
    // Headers pass through: they carry the outbox position and the trace context.
    publish: (events, headers) => bus.publish(events, headers),
    live: options => bus.live(options),
    connected: () => bus.connected(),
    deadLetterCount: () => bus.deadLetterCount(),
    close: () => bus.close(),
    consume: (options: ConsumeOptions) =>
      bus.consume({
        ...options,
        handler: async (event, headers) => {
          try {
            await options.handler(event, headers);
            eventsHandled.inc({ queue: options.queue, outcome: 'applied' });
            consumerLag.observe(
              { queue: options.queue },
              Math.max(0, Date.now() - Date.parse(event.occurredAt)) / 1000,
            );
          } catch (err) {
            eventsHandled.inc({
              queue: options.queue,
              outcome: err instanceof PoisonMessageError ? 'dead-lettered' : 'retried',
            });
            throw err;
          }
        },
      }),
  };
}
