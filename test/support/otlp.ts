import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';

/** One span as an OTLP/HTTP JSON export carries it, with its resource's `service.name`. */
export interface ReceivedSpan {
  service: string;
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
}

/** A loopback OTLP/HTTP receiver (`http/protobuf` and `http/json`) for what the services export. */
export interface OtlpReceiver extends OtlpEndpoint {
  readonly spans: ReceivedSpan[];
  /**
   * Every request body as posted (protobuf bodies as the JSON of what they decode to, and their
   * raw bytes as latin1), to look for anything that must never leave a service.
   */
  readonly bodies: string[];
  /** The content types posted, in order. */
  readonly contentTypes: string[];
}

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
}
interface KeyValue {
  key: string;
  value: AnyValue;
}
export interface ExportRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: {
      scope?: { name?: string };
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: KeyValue[];
        links?: { traceId: string; spanId: string }[];
      }[];
    }[];
  }[];
}

/**
 * What the test reads of OTLP's `ExportTraceServiceRequest` (opentelemetry-proto, trace/v1,
 * common/v1, resource/v1), same field numbers; protobufjs skips the fields left out. Its bytes
 * (ids) become hex and its int64s strings, as OTLP/JSON writes them.
 */
const otlp = protobuf.Root.fromJSON({
  nested: {
    AnyValue: {
      oneofs: {
        value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue'] },
      },
      fields: {
        stringValue: { type: 'string', id: 1 },
        boolValue: { type: 'bool', id: 2 },
        intValue: { type: 'int64', id: 3 },
        doubleValue: { type: 'double', id: 4 },
        arrayValue: { type: 'ArrayValue', id: 5 },
      },
    },
    ArrayValue: { fields: { values: { rule: 'repeated', type: 'AnyValue', id: 1 } } },
    KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } },
    Link: { fields: { traceId: { type: 'bytes', id: 1 }, spanId: { type: 'bytes', id: 2 } } },
    Span: {
      fields: {
        traceId: { type: 'bytes', id: 1 },
        spanId: { type: 'bytes', id: 2 },
        parentSpanId: { type: 'bytes', id: 4 },
        name: { type: 'string', id: 5 },
        kind: { type: 'int32', id: 6 },
        attributes: { rule: 'repeated', type: 'KeyValue', id: 9 },
        links: { rule: 'repeated', type: 'Link', id: 13 },
      },
    },
    Scope: { fields: { name: { type: 'string', id: 1 } } },
    ScopeSpans: {
      fields: { scope: { type: 'Scope', id: 1 }, spans: { rule: 'repeated', type: 'Span', id: 2 } },
    },
    Resource: { fields: { attributes: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
    ResourceSpans: {
      fields: {
        resource: { type: 'Resource', id: 1 },
        scopeSpans: { rule: 'repeated', type: 'ScopeSpans', id: 2 },
      },
    },
    ExportTraceServiceRequest: {
      fields: { resourceSpans: { rule: 'repeated', type: 'ResourceSpans', id: 1 } },
    },
  },
}).lookupType('ExportTraceServiceRequest');

/** A protobuf export as its OTLP/JSON form (ids hex, int64 strings). */
function decodeProtobuf(body: Buffer): ExportRequest {
  const message = otlp.decode(body);
  const asJson = (value: unknown): unknown =>
    value instanceof Uint8Array
      ? Buffer.from(value).toString('hex')
      : Array.isArray(value)
        ? value.map(asJson)
        : value && typeof value === 'object'
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asJson(v)]))
          : value;
  return asJson(otlp.toObject(message, { longs: String, oneofs: false })) as ExportRequest;
}

/**
 * An OTLP/HTTP trace export as posted (protobuf or JSON by `contentType`, gzipped when
 * `contentEncoding` says so), in its JSON form; undefined for another content type, and it
 * throws on a malformed body (`serveOtlpTraces`).
 */
function decodeTraceExport(
  body: Buffer,
  contentType: string,
  contentEncoding?: string,
): ExportRequest | undefined {
  const plain = contentEncoding === 'gzip' ? gunzipSync(body) : body;
  if (contentType.startsWith('application/json'))
    return JSON.parse(plain.toString('utf8')) as ExportRequest;
  if (contentType.startsWith('application/x-protobuf')) return decodeProtobuf(plain);
  return undefined;
}

const valueOf = (v: AnyValue): unknown =>
  v.stringValue ??
  v.intValue ??
  v.boolValue ??
  v.doubleValue ??
  v.arrayValue?.values?.map(valueOf) ??
  null;
const attributesOf = (kvs: KeyValue[] = []) =>
  Object.fromEntries(kvs.map(kv => [kv.key, valueOf(kv.value)]));

/** A loopback OTLP/HTTP endpoint for trace exports (`serveOtlpTraces`). */
export interface OtlpEndpoint {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT: `/v1/traces` is posted under it. */
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * Serves `/v1/traces` on loopback: each export (protobuf or JSON, gzipped or not) is decoded
 * (`decodeTraceExport`) and handed to `onExport` with the bytes as posted and their content
 * type, and answered with an empty ExportTraceServiceResponse; anything else (another path or
 * method, content type, a malformed body) is answered 400 and told to `onRefused`. The test
 * receiver and the bench's span counter (bench/tracing.ts) both serve through it.
 */
export async function serveOtlpTraces(handlers: {
  onExport(request: ExportRequest, raw: Buffer, contentType: string): void;
  onRefused?(): void;
}): Promise<OtlpEndpoint> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const type = req.headers['content-type'] ?? '';
      let request: ExportRequest | undefined;
      try {
        if (req.method === 'POST' && req.url === '/v1/traces')
          request = decodeTraceExport(raw, type, req.headers['content-encoding']);
      } catch {
        request = undefined;
      }
      if (!request) {
        handlers.onRefused?.();
        res.writeHead(400).end();
        return;
      }
      handlers.onExport(request, raw, type);
      // An empty ExportTraceServiceResponse: zero bytes in protobuf, {} in JSON.
      res.writeHead(200, { 'content-type': type }).end(type.includes('json') ? '{}' : '');
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const bodies: string[] = [];
  const contentTypes: string[] = [];
  const served = await serveOtlpTraces({
    onExport: (request, raw, type) => {
      contentTypes.push(type);
      // The decoded form and the bytes as posted, to search both for secrets.
      bodies.push(`${JSON.stringify(request)}\n${raw.toString('latin1')}`);
      for (const rs of request.resourceSpans ?? []) {
        const service = String(attributesOf(rs.resource?.attributes)['service.name']);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              service,
              scope: ss.scope?.name ?? '',
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              kind: s.kind,
              attributes: attributesOf(s.attributes),
              links: (s.links ?? []).map(l => ({ traceId: l.traceId, spanId: l.spanId })),
            });
          }
        }
      }
    },
  });
  return { ...served, spans, bodies, contentTypes };
}

/** Environment that makes a service export every span to `receiver` in `protocol`, at once. */
export const exportingTo = (
  receiver: OtlpReceiver,
  protocol: 'http/protobuf' | 'http/json',
): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
  OTEL_TRACES_SAMPLER: 'always_on',
  OTEL_BSP_SCHEDULE_DELAY: '100',
});
