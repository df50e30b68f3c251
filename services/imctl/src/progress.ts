/** Where progress goes: stderr, a bar when it is a terminal, else a line at every tenth. */
export interface ProgressSink {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/**
 * A progress reporter for a transfer of `total` bytes. On a terminal it redraws one bar line (at most
 * every 100 ms); elsewhere (a pipe, a log, a test) it prints `label: 40% (1.2 MB of 3.0 MB)` lines at
 * 0%, each further tenth and 100%, so the output stays short and readable.
 */
export function progressReporter(
  label: string,
  sink: ProgressSink,
  now: () => number = Date.now,
): { update(sent: number, total: number | undefined): void; done(): void } {
  let lastDraw = -Infinity;
  let lastTenth = -1;
  let last: [number, number | undefined] = [0, undefined];
  const line = (sent: number, total: number | undefined) => {
    if (total === undefined || total === 0)
      return `${label}: ${formatBytes(sent)}${total === 0 ? ' (100%)' : ''}`;
    const pct = Math.min(100, Math.floor((sent / total) * 100));
    return `${label}: ${pct}% (${formatBytes(sent)} of ${formatBytes(total)})`;
  };
  const bar = (sent: number, total: number | undefined) => {
    if (!total) return `\r${label} ${formatBytes(sent)}`;
    const width = Math.max(10, Math.min(40, (sink.columns ?? 80) - label.length - 40));
    const ratio = Math.min(1, sent / total);
    const filled = Math.round(ratio * width);
    const pct = String(Math.floor(ratio * 100)).padStart(3);
    return `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${formatBytes(sent)}/${formatBytes(total)}`;
  };
  return {
    update(sent, total) {
      last = [sent, total];
      if (sink.isTTY) {
        const t = now();
        if (t - lastDraw < 100 && sent !== total) return;
        lastDraw = t;
        sink.write(bar(sent, total));
        return;
      }
      const tenth = total ? Math.floor((sent / total) * 10) : sent === 0 ? 0 : lastTenth;
      if (tenth > lastTenth) {
        lastTenth = tenth;
        sink.write(`${line(sent, total)}\n`);
      }
    },
    done() {
      if (sink.isTTY) sink.write(`${bar(...last)}\n`);
      else if (last[1] !== undefined && lastTenth < 10) sink.write(`${line(last[1], last[1])}\n`);
    },
  };
}
