import {
  ROOT_CONTEXT,
  context,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator, type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import * as fs from 'node:fs';

export { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type Span, type Context };

const TRACER = '@im/observability';

/** The tracer every component uses (a no-op one until {@link initTracing} ran). */
export function tracer() {
  return trace.getTracer(TRACER);
}

/**
 * Test exporter: appends each finished span as one JSON line to a file (synchronously, so nothing
 * is lost when the process is killed). For end-to-end tests that read the spans of every process of
 * the platform; never for production.
 */
export class FileSpanExporter implements SpanExporter {
  constructor(private readonly file: string) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    try {
      const lines = spans.map((s) => JSON.stringify(spanRecord(s))).join('\n');
      fs.appendFileSync(this.file, `${lines}\n`);
      done({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** What the file exporter writes of a span. */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  service: string;
  start: number;
  end: number;
  attributes: Attributes;
}

function spanRecord(s: ReadableSpan): SpanRecord {
  const ctx = s.spanContext();
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    name: s.name,
    kind: s.kind,
    service: String(s.resource.attributes['service.name'] ?? ''),
    start: s.startTime[0] * 1e3 + s.startTime[1] / 1e6,
    end: s.endTime[0] * 1e3 + s.endTime[1] / 1e6,
    attributes: s.attributes,
  };
}

/** The OTEL_* variables this reads (the standard names of the OpenTelemetry SDK). */
export interface TracingEnv {
  /** `true` turns tracing off altogether (no spans, no propagation). */
  OTEL_SDK_DISABLED?: string | undefined;
  /** Base URL of an OTLP/HTTP collector (`/v1/traces` is appended): spans are exported there. */
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  /** Full URL of the traces endpoint, instead of the base URL. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  /** `parentbased_always_on` (default), `parentbased_traceidratio`, `traceidratio`, `always_on`, `always_off`. */
  OTEL_TRACES_SAMPLER?: string | undefined;
  /** The ratio of the `*traceidratio` samplers, 0..1. */
  OTEL_TRACES_SAMPLER_ARG?: string | undefined;
  /** Tests only: append every finished span as a JSON line to this file. */
  OTEL_TEST_SPANS_FILE?: string | undefined;
}

function samplerFrom(env: TracingEnv): Sampler {
  const ratio = Math.min(1, Math.max(0, Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1') || 0));
  switch ((env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').toLowerCase()) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

let provider: BasicTracerProvider | undefined;

/**
 * Sets up tracing for the process (once; later calls return the first provider): W3C trace context
 * propagation, async context tracking, the sampler, and the exporters the environment asks for
 * (OTLP/HTTP when an endpoint is set, the test file when `OTEL_TEST_SPANS_FILE` is). Without an
 * exporter spans are still made, so trace ids reach the logs and the next service.
 */
export function initTracing(
  service: string,
  env: TracingEnv,
  extraProcessors: SpanProcessor[] = [],
): { shutdown(): Promise<void> } {
  if (env.OTEL_SDK_DISABLED === 'true') return { shutdown: () => Promise.resolve() };
  if (!provider) {
    const processors: SpanProcessor[] = [...extraProcessors];
    if (env.OTEL_TEST_SPANS_FILE)
      processors.push(new SimpleSpanProcessor(new FileSpanExporter(env.OTEL_TEST_SPANS_FILE)));
    const endpoint =
      env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
      (env.OTEL_EXPORTER_OTLP_ENDPOINT
        ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`
        : undefined);
    if (endpoint) {
      // Loaded only when asked for: the exporter and its encoders cost start-up time otherwise.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as {
        OTLPTraceExporter: new (o: { url: string }) => SpanExporter;
      };
      processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint })));
    }
    provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      sampler: samplerFrom(env),
      spanProcessors: processors,
    });
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
  }
  const p = provider;
  return { shutdown: () => p.shutdown() };
}

const getter = {
  keys: (carrier: Record<string, string | string[] | undefined>) => Object.keys(carrier),
  get: (carrier: Record<string, string | string[] | undefined>, key: string) => carrier[key],
};

/** The context a carrier (HTTP request headers, a record's headers) continues, if it holds one. */
export function extractContext(headers: Record<string, string | string[] | undefined>): Context {
  const active = context.active();
  if (!headers.traceparent) return active;
  return propagation.extract(active, headers, getter);
}

/**
 * Adds `traceparent` (and `tracestate`) of the active span, or of `ctx`, to `headers` and returns
 * them. Headers that hold a traceparent already keep it.
 */
export function injectTraceHeaders<H extends Record<string, unknown>>(headers: H, ctx?: Context): H {
  if (headers.traceparent !== undefined) return headers;
  propagation.inject(ctx ?? context.active(), headers);
  return headers;
}

/** The active trace and span id, for log lines (undefined outside any span). */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { traceId, spanId };
}

/**
 * Runs `fn` in a new span (a child of the active one, or of `parent`), ending it when `fn` settles
 * and recording an error it throws.
 */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
    },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}

/**
 * The headers of a record to publish, with the active trace context added (a copy; the caller's
 * object is left alone). A record that carries a `traceparent` already (the outbox stores the one of
 * the transaction that wrote it) keeps it.
 */
export function producerHeaders(headers: Record<string, string>): Record<string, string> {
  if (headers.traceparent !== undefined || !trace.getActiveSpan()) return headers;
  const out = { ...headers };
  propagation.inject(context.active(), out);
  return out;
}

/**
 * Runs a record's handler in the trace its headers carry, in a consumer span; a record without one
 * runs outside any trace (not in whatever context the delivery loop was started from).
 */
export function consumeInContext<T>(
  topic: string,
  groupId: string,
  headers: Record<string, string>,
  fn: () => Promise<T>,
): Promise<T> {
  if (!headers.traceparent) return context.with(ROOT_CONTEXT, fn);
  const parent = propagation.extract(ROOT_CONTEXT, headers, getter);
  return inSpan(
    `${topic} process`,
    {
      kind: SpanKind.CONSUMER,
      parent,
      attributes: { 'messaging.destination.name': topic, 'messaging.consumer.group.name': groupId },
    },
    fn,
  );
}

/**
 * Unit tests: tracing on for this process (once), every finished span kept in memory. Call
 * `reset()` on the answer between tests.
 */
export function initTestTracing(service = 'test'): InMemorySpanExporter {
  testExporter ??= new InMemorySpanExporter();
  initTracing(service, {}, [new SimpleSpanProcessor(testExporter)]);
  return testExporter;
}

let testExporter: InMemorySpanExporter | undefined;
