import { z } from '@im/contracts';
import type { Client } from 'pg';
import Cursor from 'pg-cursor';
import { isPlainRow, kindOf } from '../formats/row.format';
import {
  connectPostgres,
  describeConnection,
  describePgError,
  normalizePgRow,
  PostgresUrl,
  quoteIdent,
  quoteQualified,
  TableName,
  toParam,
} from '../postgres.client';
import { StepError } from '../step.registry';
import {
  defineConnector,
  type ConnectorContext,
  type LoadReject,
  type RowSink,
  type SourceItem,
} from './connector.registry';

/** PostgreSQL takes at most this many parameters in one statement. */
const MAX_PARAMS = 65_535;

const SourceFields = z.strictObject({
  connection: PostgresUrl,
  query: z.string().min(1),
  /** `$1`, `$2`, … of the query. */
  params: z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])).default([]),
  /** Rows fetched from the cursor at a time. */
  batchSize: z.int().min(1).max(100_000).default(500),
});
type SourceConfig = z.output<typeof SourceFields>;

const TargetFields = z
  .strictObject({
    connection: PostgresUrl,
    table: TableName,
    mode: z.enum(['insert', 'upsert']).default('insert'),
    /** The columns of a unique constraint: an upsert updates the row with the same key. */
    key: z.array(z.string().min(1)).min(1).optional(),
    /** Rows per INSERT statement. */
    batchSize: z.int().min(1).max(10_000).default(500),
  })
  .superRefine((c, ctx) => {
    if (c.mode === 'upsert' && !c.key)
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'required when mode is upsert' });
    if (c.mode === 'insert' && c.key)
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'only for mode upsert' });
  });
type TargetConfig = z.output<typeof TargetFields>;

async function* readQuery(c: SourceConfig, ctx: ConnectorContext): AsyncGenerator<SourceItem> {
  const client = await connectPostgres(c.connection, ctx.spec);
  try {
    const cursor = client.query(new Cursor<Record<string, unknown>>(c.query, c.params));
    let n = 0;
    try {
      for (;;) {
        let rows: Record<string, unknown>[];
        try {
          rows = await cursor.read(c.batchSize);
        } catch (err) {
          throw new StepError(`query failed: ${describePgError(err)}`);
        }
        if (rows.length === 0) break;
        for (const row of rows) yield { ok: true, row: normalizePgRow(row), position: `row ${++n}` };
      }
    } finally {
      await cursor.close().catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The table's columns in their order, or null when there is no such table. */
async function tableColumns(client: Client, table: string): Promise<string[] | null> {
  const reg = await client.query<{ oid: number | null }>('SELECT to_regclass($1)::oid AS oid', [
    quoteQualified(table),
  ]);
  const oid = reg.rows[0]?.oid;
  if (oid === null || oid === undefined) return null;
  const cols = await client.query<{ attname: string }>(
    'SELECT attname FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum',
    [oid],
  );
  return cols.rows.map((r) => r.attname);
}

interface Pending {
  row: Record<string, unknown>;
  position: string;
}

/**
 * Inserts (or upserts) rows in batches, all inside one transaction: nothing is visible before
 * `close` commits, and a failing batch (or an abort) rolls everything back. A row's fields name
 * columns; a field the table lacks is a reject, a missing one takes the column's default.
 */
class PostgresSink implements RowSink {
  private batch: Pending[] = [];
  private written = 0;
  private ended = false;
  private readonly qualified: string;
  private readonly columnSet: ReadonlySet<string>;

  constructor(
    private readonly client: Client,
    private readonly c: TargetConfig,
    columns: readonly string[],
    private readonly ctx: ConnectorContext,
  ) {
    this.qualified = quoteQualified(c.table);
    this.columnSet = new Set(columns);
  }

  async write(row: unknown, position: string): Promise<readonly LoadReject[]> {
    if (!isPlainRow(row))
      return [{ row, position, reason: `a table row must be an object, not ${kindOf(row)}` }];
    const extra = Object.keys(row).filter((k) => !this.columnSet.has(k));
    if (extra.length > 0) {
      const names = extra.map((k) => `'${k}'`).join(', ');
      return [{ row, position, reason: `field(s) ${names} are not columns of ${this.c.table}` }];
    }
    const missingKey = (this.c.key ?? []).filter((k) => row[k] === undefined || row[k] === null);
    if (missingKey.length > 0)
      return [{ row, position, reason: `key field(s) ${missingKey.join(', ')} missing or null` }];
    this.batch.push({ row, position });
    if (this.batch.length >= this.c.batchSize) await this.flush();
    return [];
  }

  private async flush(): Promise<void> {
    let rows = this.batch;
    this.batch = [];
    if (rows.length === 0) return;
    if (this.c.key) {
      // One statement cannot upsert the same key twice: the last row of a key wins.
      const byKey = new Map<string, Pending>();
      for (const p of rows) byKey.set(JSON.stringify(this.c.key.map((k) => p.row[k])), p);
      rows = [...byKey.values()];
    }
    // Rows with the same fields go together, so a missing field takes the column default (insert)
    // or keeps the stored value (upsert) instead of overwriting it.
    const groups = new Map<string, Pending[]>();
    for (const p of rows) {
      const sig = Object.keys(p.row)
        .filter((k) => p.row[k] !== undefined)
        .sort()
        .join('\u0000');
      const g = groups.get(sig);
      if (g) g.push(p);
      else groups.set(sig, [p]);
    }
    for (const [sig, group] of groups) {
      const cols = sig === '' ? [] : sig.split('\u0000');
      const perStatement = Math.max(1, Math.floor(MAX_PARAMS / Math.max(1, cols.length)));
      for (let i = 0; i < group.length; i += perStatement)
        await this.insert(cols, group.slice(i, i + perStatement));
    }
  }

  private async insert(cols: readonly string[], rows: readonly Pending[]): Promise<void> {
    const params: unknown[] = [];
    const values = rows.map((p) =>
      cols.length === 0
        ? 'DEFAULT VALUES'
        : `(${cols
            .map((c) => {
              params.push(toParam(p.row[c]));
              return `$${params.length}`;
            })
            .join(', ')})`,
    );
    const columnList = cols.map(quoteIdent).join(', ');
    let sql =
      cols.length === 0
        ? `INSERT INTO ${this.qualified} DEFAULT VALUES`
        : `INSERT INTO ${this.qualified} (${columnList}) VALUES ${values.join(', ')}`;
    if (this.c.key) {
      const keys = this.c.key;
      const updates = cols.filter((c) => !keys.includes(c));
      sql += ` ON CONFLICT (${keys.map(quoteIdent).join(', ')}) ${
        updates.length === 0
          ? 'DO NOTHING'
          : `DO UPDATE SET ${updates.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`
      }`;
    }
    try {
      if (cols.length === 0) for (let i = 0; i < rows.length; i++) await this.client.query(sql);
      else await this.client.query(sql, params);
    } catch (err) {
      const first = rows[0]?.position ?? '?';
      const last = rows[rows.length - 1]?.position ?? '?';
      throw new StepError(
        `${this.c.mode} into ${this.c.table} failed for a batch (${first} … ${last}); the transaction is rolled back: ${describePgError(err)}`,
      );
    }
    this.written += rows.length;
  }

  async close(): Promise<readonly LoadReject[]> {
    try {
      await this.flush();
      await this.client.query('COMMIT');
      this.ended = true;
      this.ctx.logger.debug(`committed ${this.written} row(s) to ${this.c.table}`);
    } catch (err) {
      await this.abort();
      if (err instanceof StepError) throw err;
      throw new StepError(`commit to ${this.c.table} failed: ${describePgError(err)}`);
    } finally {
      if (this.ended) await this.client.end().catch(() => undefined);
    }
    return [];
  }

  async abort(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.batch = [];
    await this.client.query('ROLLBACK').catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }
}

async function openTable(c: TargetConfig, ctx: ConnectorContext): Promise<RowSink> {
  const client = await connectPostgres(c.connection, ctx.spec);
  try {
    let columns: string[] | null;
    try {
      columns = await tableColumns(client, c.table);
    } catch (err) {
      throw new StepError(`cannot read the columns of ${c.table}: ${describePgError(err)}`);
    }
    if (!columns) throw new StepError(`table ${c.table} does not exist (or is not visible to this user)`);
    const known = new Set(columns);
    const missing = (c.key ?? []).filter((k) => !known.has(k));
    if (missing.length > 0)
      throw new StepError(`key column(s) ${missing.join(', ')} are not columns of ${c.table}`);
    await client.query('BEGIN');
    return new PostgresSink(client, c, columns, ctx);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
}

/**
 * `postgres`. Source: `connection`, `query`, `params`, `batchSize` (rows per cursor fetch). Target:
 * `connection`, `table`, `mode` (insert | upsert), `key` (upsert), `batchSize`.
 */
export const postgresConnector = defineConnector('postgres', {
  source: {
    fields: SourceFields,
    describe: (c) => `query on ${describeConnection(c.connection)}`,
    open: readQuery,
  },
  target: {
    fields: TargetFields,
    describe: (c) => `table ${c.table} on ${describeConnection(c.connection)} (${c.mode})`,
    open: openTable,
  },
});
