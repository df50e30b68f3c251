// Shared by every benchmark in bench/: percentiles, the machine's details and a uniform printout.
// Benchmarks are scripts, never tests: each prints its figures and a ratio against a baseline measured
// in the same run (docs/benchmarks.md).
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';

/** The p-th percentile (0-100) of a list of numbers, nearest-rank; NaN for an empty list. */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** p50, p95, p99, max and count of a list of millisecond figures, rounded to 0.1 ms. */
export function summary(values) {
  const r = (v) => Math.round(v * 10) / 10;
  return {
    n: values.length,
    p50: r(percentile(values, 50)),
    p95: r(percentile(values, 95)),
    p99: r(percentile(values, 99)),
    max: r(values.length ? Math.max(...values) : Number.NaN),
  };
}

/** What the figures were measured on, printed at the top of every benchmark. */
export function machine() {
  const cpus = os.cpus();
  let kernel = os.release();
  try {
    kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim();
  } catch {
    /* keep os.release() */
  }
  return {
    date: new Date().toISOString(),
    cpu: `${cpus.length} x ${cpus[0]?.model ?? 'unknown'}`,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel,
  };
}

/** Prints a heading line, the machine and a note on what else should not run meanwhile. */
export function header(title) {
  const m = machine();
  process.stdout.write(
    `\n=== ${title} ===\n${m.date} · ${m.cpu} · ${m.memoryGiB} GiB · Node ${m.node} · ${m.kernel}\n`,
  );
  return m;
}

/** One aligned row: a label and its figures. */
export function row(label, figures) {
  const text = Object.entries(figures)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? v.toLocaleString('en-US') : v}`)
    .join('  ');
  process.stdout.write(`${label.padEnd(44)} ${text}\n`);
}

/** A ratio against the baseline, with the target it is judged by. */
export function ratio(label, value, target) {
  const v = Math.round(value * 100) / 100;
  const met = target ? (target.atLeast !== undefined ? v >= target.atLeast : v <= target.atMost) : undefined;
  const t = target ? (target.atLeast !== undefined ? `≥ ${target.atLeast}` : `≤ ${target.atMost}`) : '';
  process.stdout.write(
    `${label.padEnd(44)} ratio ${v}${t ? `  (target ${t}: ${met ? 'met' : 'NOT met'})` : ''}\n`,
  );
  return v;
}

/** Progress on stderr for long phases, so the figures on stdout stay clean. */
export function progress(message) {
  process.stderr.write(`  … ${message}\n`);
}
