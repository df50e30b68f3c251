import { initTestTracing, inSpan } from '@im/observability';
import { traceMixin } from './index';

describe('traceMixin', () => {
  initTestTracing();

  it('adds the active trace and span id to a line written in a span, nothing outside one', async () => {
    expect(traceMixin()).toEqual({});
    const ids = await inSpan('work', {}, async (span) => {
      expect(traceMixin()).toEqual({
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
      });
      return span.spanContext();
    });
    expect(ids.traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});
