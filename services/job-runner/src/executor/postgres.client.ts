import { z } from '@im/contracts';
import { Client } from 'pg';
import { redactCredentials } from './credential.redaction';
import type { ExecutorSpec } from './executor.protocol';
import { StepError } from './step.registry';

/** A `connection` field: a PostgreSQL URL, normally a macro (`$(DWH_URL)`). Never logged. */
export const PostgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a PostgreSQL URL: postgres://user:password@host:5432/database');

/** `host:port/database` of a connection URL: enough to tell which server, nothing secret. */
export function describeConnection(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return '(connection)';
  }
}

/** The message of a PostgreSQL error with its detail and hint, credentials redacted. */
export function describePgError(err: unknown): string {
  if (!(err instanceof Error)) return redactCredentials(String(err));
  const e = err as Error & { detail?: unknown; hint?: unknown; code?: unknown };
  const parts = [e.message || e.name];
  if (typeof e.detail === 'string' && e.detail) parts.push(e.detail);
  if (typeof e.hint === 'string' && e.hint) parts.push(`hint: ${e.hint}`);
  return redactCredentials(parts.join('; '));
}

/** `"name"`: a quoted identifier, whatever the name holds. */
export function quoteIdent(name: string): string {
  if (name.includes('\u0000')) throw new StepError('an identifier cannot contain a NUL character');
  return `"${name.replaceAll('"', '""')}"`;
}

/** `table` or `schema.table`, quoted part by part. */
export function quoteQualified(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}

/** A table field: `table` or `schema.table`, as the table is named (case matters; nothing is folded). */
export const TableName = z
  .string()
  .regex(/^[^.]+(\.[^.]+)?$/, "must be 'table' or 'schema.table'")
  .refine((s) => !s.includes('\u0000'), 'must not contain a NUL character');

/**
 * A connected client. Connection errors become StepErrors naming the server (never the URL's
 * credentials). Idle errors (the server went away) are kept and surface at the next query instead of
 * crashing the executor.
 */
export async function connectPostgres(
  connection: string,
  spec: Pick<ExecutorSpec, 'jobId'>,
  connectTimeoutMs = 15_000,
): Promise<Client> {
  const client = new Client({
    connectionString: connection,
    application_name: `im-job ${spec.jobId}`.slice(0, 63),
    connectionTimeoutMillis: connectTimeoutMs,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new StepError(
      `cannot connect to PostgreSQL at ${describeConnection(connection)}: ${describePgError(err)}`,
    );
  }
  return client;
}

/**
 * A value as a query parameter: objects and arrays as JSON text (json/jsonb columns), bigints as
 * text, the rest as node-postgres sends it.
 */
export function toParam(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (v !== null && typeof v === 'object' && !(v instanceof Date) && !Buffer.isBuffer(v))
    return JSON.stringify(v);
  return v;
}

/** A row from PostgreSQL as plain JSON: timestamps as ISO strings, bytea as base64. */
export function normalizePgRow(row: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(row)) {
    if (v instanceof Date) row[k] = Number.isNaN(v.getTime()) ? null : v.toISOString();
    else if (Buffer.isBuffer(v)) row[k] = v.toString('base64');
  }
  return row;
}
