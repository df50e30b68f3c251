import * as client from 'prom-client';

/**
 * The one metrics registry of a process. Standalone runs every module in one process and serves them
 * all on one `/metrics`; in distributed mode each service has its own. Metrics are got-or-created by
 * name, so a module built twice (tests, a restart in process) shares its series instead of throwing.
 */
export const registry = new client.Registry();

let defaultsOn = false;

/** Node.js process metrics (CPU, memory, event-loop lag, GC) and a `service` label on every series. */
export function enableDefaultMetrics(service: string): void {
  if (defaultsOn) return;
  defaultsOn = true;
  registry.setDefaultLabels({ service });
  client.collectDefaultMetrics({ register: registry });
}

export const CONTENT_TYPE = registry.contentType;

/** The text exposition of every metric of the process (what `GET /metrics` answers). */
export function metricsText(): Promise<string> {
  return registry.metrics();
}

export function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as client.Counter<L>;
  return new client.Counter<L>({ name, help, labelNames, registers: [registry] });
}

export function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: number[],
) {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as client.Histogram<L>;
  return new client.Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
}

export function gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as client.Gauge<L>;
  return new client.Gauge<L>({ name, help, labelNames, registers: [registry] });
}

/** A source of gauge values read at scrape time: label values → value. */
export type GaugeSource = () => Promise<Record<string, number>> | Record<string, number>;

const sampledGauges = new Map<string, Set<GaugeSource>>();

/**
 * A gauge whose values are read when Prometheus scrapes (a count query, a queue length), from every
 * source registered under it (one per module instance; their values are added). With `label`, each
 * key of a source's answer is that label's value; without, the answer's `value` key is the value.
 * Returns the function that unregisters the source (call it when the module stops).
 */
export function sampledGauge(name: string, help: string, label: string | undefined, source: GaugeSource) {
  let sources = sampledGauges.get(name);
  if (!sources) {
    const set = new Set<GaugeSource>();
    sources = set;
    sampledGauges.set(name, set);
    new client.Gauge({
      name,
      help,
      labelNames: label ? [label] : [],
      registers: [registry],
      async collect() {
        const totals = new Map<string, number>();
        const answers = await Promise.allSettled([...set].map(async (s) => s()));
        for (const a of answers) {
          if (a.status !== 'fulfilled') continue;
          for (const [k, v] of Object.entries(a.value)) totals.set(k, (totals.get(k) ?? 0) + v);
        }
        this.reset();
        for (const [k, v] of totals) {
          if (label) this.set({ [label]: k }, v);
          else this.set(v);
        }
      },
    });
  }
  sources.add(source);
  return () => {
    sources.delete(source);
  };
}

/** Latency buckets for HTTP requests (seconds): 5 ms to 10 s. */
export const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Buckets for jobs and queues (seconds): 50 ms to 1 hour. */
export const JOB_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export function httpDurationHistogram() {
  return histogram(
    'http_request_duration_seconds',
    'HTTP requests served: time to the end of the response, by method, route pattern and status.',
    ['method', 'route', 'status'],
    HTTP_BUCKETS,
  );
}
