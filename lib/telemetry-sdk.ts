import { trace, type Context } from '@opentelemetry/api';
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
import { SERVICE, type Telemetry } from './telemetry.js';

/*
 * The OpenTelemetry SDK, loaded by `startTelemetry` (lib/telemetry.ts) only when tracing is on.
 */

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

/**
 * Starts the OpenTelemetry SDK for `config` (`loadTelemetryConfig`): the OTLP/HTTP
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
export function startSdk(config: TelemetryConfig, role: string | undefined): Telemetry {
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
