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
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib';
import { GraphQLInstrumentation } from '@opentelemetry/instrumentation-graphql';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { TelemetryConfig } from './config.js';

/** The tracer of this project's own spans (router phases, events, subscription pushes). */
const tracer = trace.getTracer('supergraph');

const SERVICE = createContextKey('supergraph.service');

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

/**
 * Remembers which service each span belongs to (from the context it starts in, or its local
 * parent), for the exporter to report it under that service's resource.
 */
class ServiceOfSpan implements SpanProcessor {
  readonly services = new WeakMap<object, string>();
  onStart(span: object, parent: Context): void {
    const named = parent.getValue(SERVICE);
    const service =
      typeof named === 'string' ? named : this.services.get(trace.getSpan(parent) ?? {});
    if (service) this.services.set(span, service);
  }
  onEnd(): void {}
  forceFlush = () => Promise.resolve();
  shutdown = () => Promise.resolve();
}

/** A span as exported: the same, under its service's resource. */
function underResource(span: ReadableSpan, resource: Resource): ReadableSpan {
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => span.spanContext(),
    ...(span.parentSpanContext ? { parentSpanContext: span.parentSpanContext } : {}),
    startTime: span.startTime,
    endTime: span.endTime,
    status: span.status,
    attributes: span.attributes,
    links: span.links,
    events: span.events,
    duration: span.duration,
    ended: span.ended,
    resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/** Exports each span under the resource of its service (`inService`), the process's otherwise. */
function perServiceExporter(
  inner: SpanExporter,
  services: WeakMap<object, string>,
  fallback: string | undefined,
): SpanExporter {
  const resources = new Map<string, Resource>();
  const resourceOf = (span: ReadableSpan, service: string) => {
    let resource = resources.get(service);
    if (!resource) {
      resource = span.resource.merge(resourceFromAttributes({ 'service.name': service }));
      resources.set(service, resource);
    }
    return resource;
  };
  return {
    export: (spans, done) => {
      inner.export(
        spans.map(span => {
          const service = fallback ?? services.get(span);
          return service ? underResource(span, resourceOf(span, service)) : span;
        }),
        done,
      );
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

export interface Telemetry {
  /** Exports what is left and stops the SDK. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK when `config` says so (`loadTelemetryConfig`): the OTLP/HTTP
 * exporter of OTEL_EXPORTER_OTLP_PROTOCOL, the sampler of OTEL_TRACES_SAMPLER (the SDK reads
 * it), and the maintained instrumentations of what this project uses: undici (every subgraph
 * fetch, which therefore carries `traceparent`), graphql, amqplib. Servers are traced by
 * `createGraphQLHandler` itself (lib/http.ts): one span per GraphQL request, under the right
 * service in one process, where @opentelemetry/instrumentation-http would add a second.
 * It must run before those modules load: entry points import `telemetry-start.ts` first.
 *
 * `role`: the one service this process runs (its spans are reported under OTEL_SERVICE_NAME,
 * or this name); undefined when it runs several (each span under its `inService` name).
 */
export function startTelemetry(
  config: TelemetryConfig | undefined,
  role: string | undefined,
): Telemetry | undefined {
  if (!config) return undefined;
  const services = new ServiceOfSpan();
  const exporter =
    config.protocol === 'http/json'
      ? new JsonTraceExporter({ url: config.tracesUrl })
      : new ProtobufTraceExporter({ url: config.tracesUrl });
  const sdk = new NodeSDK({
    serviceName: config.serviceName ?? role ?? 'supergraph',
    spanProcessors: [
      services,
      new BatchSpanProcessor({
        exporter: perServiceExporter(
          exporter,
          services.services,
          role === undefined ? undefined : (config.serviceName ?? role),
        ),
      }),
    ],
    // Metrics stay on Prometheus (/metrics); logs on stdout.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new UndiciInstrumentation(),
      // Literal values in the document are masked (allowValues false); no resolver spans.
      new GraphQLInstrumentation({ allowValues: false, ignoreResolveSpans: true }),
      new AmqplibInstrumentation(),
    ],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
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
