import {
  consumeInContext,
  context,
  counter,
  initTestTracing,
  inSpan,
  metricsText,
  producerHeaders,
  sampledGauge,
  trace,
} from './index';

describe('metrics', () => {
  it('gets a metric by name instead of registering it twice', () => {
    const a = counter('test_things_total', 'Things.', ['kind']);
    const b = counter('test_things_total', 'Things.', ['kind']);
    expect(b).toBe(a);
  });

  it('reads sampled gauges at scrape time, adding up their sources, until a source is removed', async () => {
    const one = sampledGauge('test_queue', 'Queue.', 'status', () => ({ QUEUED: 2, RUNNING: 1 }));
    const two = sampledGauge('test_queue', 'Queue.', 'status', async () => ({ QUEUED: 3 }));
    let text = await metricsText();
    expect(text).toContain('test_queue{status="QUEUED"} 5');
    expect(text).toContain('test_queue{status="RUNNING"} 1');
    two();
    text = await metricsText();
    expect(text).toContain('test_queue{status="QUEUED"} 2');
    one();
    expect(await metricsText()).not.toContain('test_queue{');
  });

  it('keeps serving the other sources when one fails', async () => {
    const bad = sampledGauge('test_backlog', 'Backlog.', undefined, () => Promise.reject(new Error('down')));
    const good = sampledGauge('test_backlog', 'Backlog.', undefined, () => ({ value: 7 }));
    expect(await metricsText()).toContain('test_backlog 7');
    bad();
    good();
  });
});

describe('trace context over records', () => {
  const spans = initTestTracing();
  beforeEach(() => spans.reset());

  it('adds the active span as traceparent, leaves headers alone outside a span or with one already', async () => {
    const none = { a: '1' };
    expect(producerHeaders(none)).toBe(none);
    await inSpan('publish', {}, async (span) => {
      const given = { a: '1' };
      const out = producerHeaders(given);
      expect(given).toEqual({ a: '1' });
      expect(out.traceparent).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
      const kept = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
      expect(producerHeaders(kept)).toBe(kept);
    });
  });

  it('runs a handler in a consumer span of the record trace, and one without outside any trace', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const seen = await consumeInContext('im.job.requests', 'job-runner', { traceparent }, async () =>
      trace.getActiveSpan()?.spanContext(),
    );
    expect(seen?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    const [span] = spans.getFinishedSpans();
    expect(span?.name).toBe('im.job.requests process');
    expect(span?.parentSpanContext?.spanId).toBe('b7ad6b7169203331');

    await inSpan('unrelated', {}, async () => {
      const outside = await consumeInContext('im.job.heartbeats', 'g', {}, async () => trace.getActiveSpan());
      expect(outside).toBeUndefined();
    });
    expect(context.active()).toBeDefined();
  });
});
