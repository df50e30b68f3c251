import { enableDefaultMetrics } from './metrics';
import { initTracing, type TracingEnv } from './tracing';

export * from './metrics';
export * from './tracing';

/**
 * Metrics and traces for one process, from its composition root: default process metrics labelled
 * with the service, and tracing as the OTEL_* variables say. Returns what flushes pending spans.
 */
export function initObservability(service: string, env: TracingEnv): { shutdown(): Promise<void> } {
  enableDefaultMetrics(service);
  return initTracing(service, env);
}
