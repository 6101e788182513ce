import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadConfig } from '#lib/config.js';
import { createAmqpBus } from '#lib/events/amqp.js';
import { createMemoryBus } from '#lib/events/memory.js';
import { listen } from '#lib/http.js';
import { createLogger } from '#lib/log.js';
import { tokenVerification } from '../router/auth.js';
import { createRouter, routerOptions } from '../router/server.js';
import { beforeParts } from './baseline.js';
import { startHiveGateway } from './hive.js';
import type { GatewayMessage, GatewayRequest, GatewaySpec } from './shared.js';

/**
 * One gateway in a process of its own (spawned by `bench/run.ts` with an IPC channel), so
 * its CPU and memory are its own: our router (`createRouter`, as `router/index.ts` builds
 * it) or Hive Gateway. Argument: the GatewaySpec as JSON. Answers `stats` with its memory.
 */
const spec = JSON.parse(process.argv[2] ?? '{}') as GatewaySpec;
const send = (message: GatewayMessage) => process.send?.(message);

async function main() {
  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'error',
    HOST: '127.0.0.1',
    JWT_SECRET: spec.jwtSecret,
    ROUTER_SECRET: spec.routerSecret,
    // Every subscriber of the fan-out connects from 127.0.0.1: one address, up to 1,000
    // sockets (the production default of 50 per address would refuse most of them).
    MAX_SOCKETS_PER_ADDRESS: '5000',
    // The one-viewer fan-out is 1,000 subscriptions of one user (the default caps a viewer at 200).
    MAX_SUBSCRIPTIONS_PER_VIEWER: '5000',
  });
  const log = createLogger({ level: 'error', name: spec.label });
  let stop: () => Promise<void>;
  let subscriptionStats: () =>
    ReturnType<Awaited<ReturnType<typeof createRouter>>['subscriptionStats']> | undefined = () =>
    undefined;
  if (spec.kind === 'router') {
    const bus = spec.bus
      ? await createAmqpBus({ url: spec.bus.url, log, namespace: spec.bus.namespace, queues: {} })
      : createMemoryBus({ log });
    const options = routerOptions(config, log, spec.subgraphUrls, bus);
    const router = await createRouter(options, spec.baseline ? beforeParts(options) : undefined);
    const { server, url } = await listen(router.handler, 0, '127.0.0.1');
    router.attach(server);
    subscriptionStats = () => router.subscriptionStats();
    stop = async () => {
      await router.stop();
      await bus.close();
    };
    send({ type: 'listening', url: `${url}/graphql` });
  } else {
    const hive = await startHiveGateway({
      subgraphUrls: spec.subgraphUrls,
      jwt: tokenVerification(config.jwt),
      routerSecret: config.routerSecret,
      rustPlanner: spec.kind === 'hive-rust',
    });
    stop = () => hive.stop();
    send({ type: 'listening', url: hive.url });
  }

  // CPU profiles of a chosen window (the throughput run), not of start-up: the same
  // V8 profiler as --cpu-prof, driven through the inspector.
  let profiler: Session | undefined;
  process.on('message', (message: GatewayRequest) => {
    if (message.type === 'profile-start') {
      profiler = new Session();
      profiler.connect();
      void profiler
        .post('Profiler.enable')
        .then(() => profiler?.post('Profiler.setSamplingInterval', { interval: 500 }))
        .then(() => profiler?.post('Profiler.start'));
    } else if (message.type === 'profile-stop') {
      const session = profiler;
      profiler = undefined;
      void session?.post('Profiler.stop').then(({ profile }) => {
        writeFileSync(message.file, JSON.stringify(profile));
        session.disconnect();
        send({ type: 'profiled', file: message.file });
      });
    } else if (message.type === 'stats') {
      const memory = process.memoryUsage();
      const subscriptions = subscriptionStats();
      send({
        type: 'stats',
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        ...(subscriptions ? { subscriptions } : {}),
      });
    } else if (message.type === 'stop') {
      // A normal exit, so that --cpu-prof writes its profile.
      const force = setTimeout(() => process.exit(0), 5_000);
      stop()
        .catch(() => {})
        .finally(() => {
          clearTimeout(force);
          process.exit(0);
        });
    }
  });
  // The parent went away: never outlive it.
  process.on('disconnect', () => process.exit(0));
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
});
