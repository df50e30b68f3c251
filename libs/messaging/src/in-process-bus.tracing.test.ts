import { silentLogger } from '@im/logging';
import { initTestTracing, inSpan, trace } from '@im/observability';
import { InProcessEventBus } from './in-process-bus';

describe('in-process bus, trace context', () => {
  const spans = initTestTracing();

  it('carries the publisher trace in the traceparent header; the handler runs in a child span of it', async () => {
    const bus = new InProcessEventBus(silentLogger());
    const handled: { traceId?: string; headers: Record<string, string> }[] = [];
    await bus.subscribe({
      groupId: 'g',
      topic: 'job.cancel',
      handler: async (_m, meta) => {
        handled.push({ traceId: trace.getActiveSpan()?.spanContext().traceId, headers: meta.headers });
      },
    });
    const publisher = await inSpan('publisher', {}, async (span) => {
      await bus.publish('job.cancel', {
        jobId: 'j1',
        attempt: 1,
        stoppedByUserId: 'u1',
        requestedAt: new Date(0).toISOString(),
      });
      return span.spanContext();
    });
    await bus.idle();
    expect(handled).toHaveLength(1);
    expect(handled[0]!.traceId).toBe(publisher.traceId);
    expect(handled[0]!.headers.traceparent).toContain(publisher.spanId);
    const consumer = spans.getFinishedSpans().find((s) => s.name === 'im.job.cancel process');
    expect(consumer?.parentSpanContext?.spanId).toBe(publisher.spanId);
    await bus.close();
  });
});
