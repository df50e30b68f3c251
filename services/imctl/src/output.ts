export type OutputFormat = 'json' | 'table';

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.map(cell).join(',');
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint')
    return String(v);
  return JSON.stringify(v) ?? '-';
}

/** A plain table: a header row, columns padded to their widest cell, two spaces between them. */
export function formatTable<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => cell(c.value(r)).replace(/\s+/g, ' ')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((s, i) => (i === r.length - 1 ? s : s.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(columns.map((c) => c.header)), ...cells.map(fmt)].join('\n') + '\n';
}

/** One resource as `key: value` lines, nested objects flattened with dotted keys. */
export function formatObject(obj: object): string {
  const lines: Array<[string, string]> = [];
  const walk = (prefix: string, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v);
      if (entries.length === 0) lines.push([prefix, '{}']);
      for (const [k, x] of entries) walk(prefix ? `${prefix}.${k}` : k, x);
    } else lines.push([prefix, cell(v)]);
  };
  walk('', obj);
  const w = Math.max(0, ...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${`${k}:`.padEnd(w + 1)} ${v}`).join('\n') + '\n';
}

export function formatJson(v: unknown): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}
