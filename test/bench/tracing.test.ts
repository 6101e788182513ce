import { afterEach, describe, expect, it } from 'vitest';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { startSpanCounter, type SpanCounter } from '../../bench/tracing.js';

type ProtobufOptions = NonNullable<ConstructorParameters<typeof ProtobufTraceExporter>[0]>;
/** The exporter's CompressionAlgorithm.GZIP (its enum is not exported by the exporter package). */
const GZIP = 'gzip' as NonNullable<ProtobufOptions['compression']>;

// The bench's OTLP receiver (bench/tracing.ts) counts what the real exporters post, and
// refuses, without falling over, what no exporter would send.
describe('the tracing bench’s span counter', () => {
  let counter: SpanCounter | undefined;
  afterEach(async () => {
    await counter?.close();
    counter = undefined;
  });

  const exportSpans = async (exporter: SpanExporter, n: number) => {
    const provider = new TracerProvider({
      spanProcessors: [new BatchSpanProcessor({ exporter, maxExportBatchSize: 7 })],
    });
    const tracer = provider.getTracer('bench-test');
    for (let i = 0; i < n; i++) {
      const span = tracer.startSpan(`span ${i}`, { attributes: { i, name: 'x'.repeat(i) } });
      span.addEvent('event', { i });
      span.end();
    }
    await provider.forceFlush();
    await provider.shutdown();
  };

  it.each([
    ['http/protobuf', (url: string) => new ProtobufTraceExporter({ url })],
    ['http/protobuf, gzip', (url: string) => new ProtobufTraceExporter({ url, compression: GZIP })],
    ['http/json', (url: string) => new JsonTraceExporter({ url })],
  ])('counts every span the %s exporter posts', async (_protocol, make) => {
    counter = await startSpanCounter();
    await exportSpans(make(`${counter.endpoint}/v1/traces`), 30);
    const counts = counter.counts();
    expect(counts.spans).toBe(30);
    expect(counts.exports).toBeGreaterThanOrEqual(5); // batches of at most 7
    expect(counts.bytes).toBeGreaterThan(30 * 20);
    expect(counts.rejected).toBe(0);
  });

  it.each([
    ['a truncated varint', Buffer.from([0x0a, 0xff])],
    ['a length past the end', Buffer.from([0x0a, 0x10, 0x12, 0x00])],
    ['a group wire type', Buffer.from([0x0b, 0x0c])],
    ['a nested length past its parent', Buffer.from([0x0a, 0x02, 0x12, 0x05, 0x12, 0x00])],
  ])('refuses %s with 400 and keeps counting', async (_what, body) => {
    counter = await startSpanCounter();
    const res = await fetch(`${counter.endpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body,
    });
    expect(res.status).toBe(400);
    expect(counter.counts()).toEqual({ exports: 0, spans: 0, bytes: 0, rejected: 1 });
    await exportSpans(new ProtobufTraceExporter({ url: `${counter.endpoint}/v1/traces` }), 3);
    expect(counter.counts().spans).toBe(3);
  });

  it('refuses other paths, methods, content types and JSON that is not JSON', async () => {
    counter = await startSpanCounter();
    const post = (path: string, type: string, body: string, method = 'POST') =>
      fetch(`${counter!.endpoint}${path}`, {
        method,
        headers: { 'content-type': type },
        ...(method === 'GET' ? {} : { body }),
      }).then(r => r.status);
    expect(await post('/v1/metrics', 'application/json', '{}')).toBe(400);
    expect(await post('/v1/traces', 'text/plain', 'hello')).toBe(400);
    expect(await post('/v1/traces', 'application/json', '{"resourceSpans": [')).toBe(400);
    expect(await post('/v1/traces', 'application/json', '', 'GET')).toBe(400);
    expect(counter.counts().rejected).toBe(4);
  });
});
