import type { Config } from './config.js';
import { createAmqpBus } from './events/amqp.js';
import type { EventBus, WorkQueues } from './events/bus.js';
import { createMemoryBus } from './events/memory.js';
import type { Logger } from './log.js';

/**
 * The bus of this process: RabbitMQ when AMQP_URL is set, else the in-process broker,
 * which only connects services that run in this same process. `queues` are every service's
 * work queues (declared on connect); `service` names a process that runs one service alone.
 */
export async function openEventBus(
  config: Config,
  log: Logger,
  options: { queues: WorkQueues; service?: string },
): Promise<EventBus> {
  const { queues, service } = options;
  if (config.amqpUrl)
    return createAmqpBus({ url: config.amqpUrl, log, queues, ...(service ? { service } : {}) });
  if (service) {
    log.warn(
      `AMQP_URL is not set: ${service} runs with an in-process event bus and exchanges no events with other processes`,
    );
  }
  return createMemoryBus({ log, queues });
}

/**
 * Stops the process gracefully on SIGTERM/SIGINT: `stop` runs once; a second signal, or
 * a stop that takes longer than `timeoutMs`, exits at once.
 */
export function onShutdown(stop: () => Promise<void>, log: Logger, timeoutMs = 20_000): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown took too long, exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}

/** Logs the config problems a user must know about at start. */
export function warnAboutConfig(config: Config, log: Logger): void {
  if (config.generatedSecrets.length > 0) {
    log.warn(
      { generated: config.generatedSecrets },
      'secrets not set: generated random ones for this run (tokens will not survive a restart; set them in .env)',
    );
  }
}
