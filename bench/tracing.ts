import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveOtlpTraces, type OtlpEndpoint } from '../test/support/otlp.js';
import { freePort } from '../test/support/ports.js';
import type { HttpLoadResult } from './shared.js';

/**
 * The cost of tracing (issue 16): our router as `router/index.ts` runs it (the SDK started by
 * lib/telemetry-start.ts from the OTEL_* variables, nothing else), in three processes side by
 * side — no endpoint (no SDK), sampling 100 % and sampling 10 % — each exporting to an OTLP/HTTP
 * receiver of its own in this process, which reads every export and counts its spans and bytes,
 * so the cost of exporting is real. No side effects on import.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface TracingVariant {
  label: string;
  /** The OTEL_* variables of this variant (none: no SDK). */
  env: Record<string, string>;
}

export const TRACING_VARIANTS: readonly TracingVariant[] = [
  { label: 'tracing off (no endpoint)', env: {} },
  { label: 'tracing on, 100 % sampled', env: { OTEL_TRACES_SAMPLER: 'parentbased_always_on' } },
  {
    label: 'tracing on, 10 % sampled',
    env: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' },
  },
];

export interface TracingRow {
  label: string;
  /** Each measured round (the variants run in turn, round after round). */
  rounds: HttpLoadResult[];
  opsPerSecond: number;
  p50: number;
  p99: number;
  failures: number;
  operations: number;
  /** What the receiver got from this variant's router over its rounds (warm-ups included). */
  exports: number;
  spans: number;
  bytes: number;
  /** Operations in those rounds, warm-ups included (to relate spans to requests). */
  totalOperations: number;
}

export interface TracingResults {
  protocol: string;
  connections: number;
  durationSeconds: number;
  viewers: string;
  rows: TracingRow[];
}

// ---------------------------------------------------------------- the receiver

/** A loopback OTLP/HTTP receiver (protobuf or JSON, gzip or not) that keeps counts only. */
export interface SpanCounter extends OtlpEndpoint {
  counts(): { exports: number; spans: number; bytes: number; rejected: number };
}

export async function startSpanCounter(): Promise<SpanCounter> {
  let exports = 0;
  let spans = 0;
  let bytes = 0;
  let rejected = 0;
  const served = await serveOtlpTraces({
    onExport: (request, raw) => {
      for (const rs of request.resourceSpans ?? [])
        for (const ss of rs.scopeSpans ?? []) spans += ss.spans?.length ?? 0;
      exports += 1;
      bytes += raw.length;
    },
    onRefused: () => void (rejected += 1),
  });
  return { ...served, counts: () => ({ exports, spans, bytes, rejected }) };
}

// ---------------------------------------------------------------- the routers

export interface TracedRouter {
  variant: TracingVariant;
  /** The router's GraphQL URL. */
  url: string;
  receiver: SpanCounter;
  /** SIGTERM (the router flushes its spans as it shuts down), SIGKILL after 15 s. */
  stop(): Promise<void>;
}

/**
 * `router/index.ts` in a process of its own with `variant`'s OTEL_* variables, exporting to a
 * receiver of its own; an environment of its own too, so nothing of this process's leaks in.
 */
export async function startTracedRouter(
  variant: TracingVariant,
  options: {
    subgraphUrls: Record<'users' | 'tasks' | 'notifications', string>;
    jwtSecret: string;
    routerSecret: string;
    onOutput: (line: string) => void;
  },
): Promise<TracedRouter> {
  const receiver = await startSpanCounter();
  const port = await freePort();
  const traced = Object.keys(variant.env).length > 0;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'production',
    LOG_LEVEL: 'error',
    HOST: '127.0.0.1',
    ROUTER_PORT: String(port),
    JWT_SECRET: options.jwtSecret,
    ROUTER_SECRET: options.routerSecret,
    USERS_URL: options.subgraphUrls.users,
    TASKS_URL: options.subgraphUrls.tasks,
    NOTIFICATIONS_URL: options.subgraphUrls.notifications,
    ...(traced
      ? {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_SERVICE_NAME: 'router',
          ...variant.env,
        }
      : {}),
  };
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'router/index.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = (d: Buffer) => options.onOutput(`[${variant.label}] ${d.toString()}`);
  child.stdout?.on('data', output);
  child.stderr?.on('data', output);
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    await receiver.close();
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      await receiver.close();
      throw new Error(`${variant.label}: router/index.ts exited with ${child.exitCode}`);
    }
    const ready = await fetch(`${base}/ready`).then(
      r => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${variant.label}: router/index.ts not ready within 60 s`);
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  return { variant, url: `${base}/graphql`, receiver, stop };
}

/** One row per variant from its rounds and its receiver's counts (taken after the router stopped). */
export function tracingRow(
  variant: TracingVariant,
  rounds: HttpLoadResult[],
  counts: { exports: number; spans: number; bytes: number },
): TracingRow {
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / (values.length || 1);
  return {
    label: variant.label,
    rounds,
    opsPerSecond: mean(rounds.map(r => r.opsPerSecond)),
    p50: mean(rounds.map(r => r.latencyMs.p50)),
    p99: mean(rounds.map(r => r.latencyMs.p99)),
    failures: rounds.reduce((a, r) => a + r.failures, 0),
    operations: rounds.reduce((a, r) => a + r.operations, 0),
    totalOperations: rounds.reduce((a, r) => a + r.totalOperations, 0),
    exports: counts.exports,
    spans: counts.spans,
    bytes: counts.bytes,
  };
}
