import {
  context,
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from '@opentelemetry/api';
import type { TelemetryConfig } from './config.js';

/** The tracer of this project's own spans (router phases, events, subscription pushes). */
const tracer = trace.getTracer('supergraph');

/** The service a context's spans belong to (`inService`), read by the SDK's exporter. */
export const SERVICE = createContextKey('supergraph.service');

/**
 * Runs `fn` as part of service `name`: every span started inside (and in what it schedules)
 * is reported under that `service.name`, so one process running the whole supergraph still
 * shows four services. Without an SDK the context is a no-op and this costs a call.
 */
export function inService<T>(name: string, fn: () => T): T {
  return context.with(context.active().setValue(SERVICE, name), fn);
}

/** Runs functions later under the service `fn` is called in now (see `inService`). */
export function serviceScope(): <T>(fn: () => T) => T {
  const service = context.active().getValue(SERVICE);
  return fn => (typeof service === 'string' ? inService(service, fn) : fn());
}

export interface Telemetry {
  /** Exports what is left and stops the SDK. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK when `config` says so (`loadTelemetryConfig`); see
 * lib/telemetry-sdk.ts. The SDK and its instrumentations are loaded only then: with tracing off
 * the process never loads them (they take a second or two to import).
 *
 * `role`: the one service this process runs (its spans are reported under OTEL_SERVICE_NAME,
 * or this name); undefined when it runs several (each span under its `inService` name).
 */
export async function startTelemetry(
  config: TelemetryConfig | undefined,
  role: string | undefined,
): Promise<Telemetry | undefined> {
  if (!config) return undefined;
  const { startSdk } = await import('./telemetry-sdk.js');
  return startSdk(config, role);
}

/** The W3C `traceparent` (and `tracestate`) of the active span, to send beside a message. */
export function traceCarrier(from: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(from, carrier);
  return carrier;
}

/** The remote context of a carrier (`traceparent`), ROOT when it has none or a malformed one. */
export function contextOf(carrier: Readonly<Record<string, unknown>> | undefined): Context {
  if (!carrier) return ROOT_CONTEXT;
  const strings: Record<string, string> = {};
  for (const key of ['traceparent', 'tracestate']) {
    const value = carrier[key];
    if (typeof value === 'string' && value.length <= 512) strings[key] = value;
  }
  return propagation.extract(ROOT_CONTEXT, strings);
}

/**
 * Runs `fn` inside a new span (its status set from the outcome); the span is `parent`'s child,
 * or the active span's when no parent is given. Links: spans it follows from, not a parent.
 */
export async function withSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; parent?: Context; links?: Link[] },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  // The service a span belongs to is the caller's, whatever context it continues.
  const service = context.active().getValue(SERVICE);
  const start = service === undefined ? parent : parent.setValue(SERVICE, service);
  return tracer.startActiveSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(options.links ? { links: options.links } : {}),
    },
    start,
    async span => {
      try {
        return await fn(span);
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * Runs `fn` as the root span of a trace of its own, linked to the span `cause` names (a W3C
 * `traceparent`; no link when it is missing or malformed): work done once per change for many
 * receivers, such as a subscription event's resolution, which would swamp the change's trace.
 */
export function withLinkedSpan<T>(
  name: string,
  cause: unknown,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const linked = trace.getSpanContext(
    contextOf(typeof cause === 'string' ? { traceparent: cause } : undefined),
  );
  return withSpan(
    name,
    {
      parent: ROOT_CONTEXT,
      attributes,
      ...(linked && trace.isSpanContextValid(linked) ? { links: [{ context: linked }] } : {}),
    },
    fn,
  );
}

/**
 * Handles one event of a work queue as a consumer span continuing the trace of the change
 * that wrote it (`traceparent` of its headers, EventHeaders).
 */
export function consumeTraced(
  event: { id: string; type: string },
  queue: string,
  traceparent: string | undefined,
  handle: () => Promise<void>,
): Promise<void> {
  return withSpan(
    `process ${event.type}`,
    {
      kind: SpanKind.CONSUMER,
      parent: contextOf(traceparent ? { traceparent } : undefined),
      attributes: {
        'messaging.operation.type': 'process',
        'messaging.destination.name': queue,
        'messaging.message.id': event.id,
      },
    },
    handle,
  );
}

/** trace_id and span_id of the active span, for log lines; empty when none is recording. */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

export { SpanKind };
