import { z } from '@im/contracts';
import * as fs from 'node:fs/promises';
import { resolvePackageFile } from '../package-file.resolver';
import { connectPostgres, describeConnection, describePgError, PostgresUrl } from '../postgres.client';
import { defineStep, StepError } from '../step.registry';

/** Largest SQL file a step reads (it is sent to the server as one text). */
const MAX_SQL_FILE_BYTES = 16 * 1024 * 1024;

interface PgResult {
  command: string | null;
  rowCount: number | null;
}

/** Line (1-based) of a character position (1-based, as PostgreSQL reports it) in a text. */
function lineAt(text: string, position: number): number {
  let line = 1;
  for (let i = 0; i < Math.min(position - 1, text.length); i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * `sql`: runs statements against PostgreSQL in one transaction (all or nothing): a `statements`
 * list, or a `.sql` `file` of the package sent as one text (it may hold many statements). Logs the
 * rows each statement affected.
 */
export const sqlStep = defineStep(
  'sql',
  z
    .strictObject({
      /** A PostgreSQL URL, normally a (secure) macro: `$(DWH_URL)`. */
      connection: PostgresUrl,
      statements: z.array(z.string().min(1)).min(1).optional(),
      file: z
        .string()
        .regex(/\.sql$/i, 'must name a .sql file of the package')
        .optional(),
      /** statement_timeout for the transaction's statements. */
      timeoutSeconds: z.number().positive().max(86_400).optional(),
    })
    .superRefine((c, ctx) => {
      if ((c.statements === undefined) === (c.file === undefined))
        ctx.addIssue({ code: 'custom', path: ['statements'], message: 'give either statements or file' });
    }),
  async (config, _common, ctx) => {
    let texts: { text: string; label: string }[];
    if (config.file) {
      const file = await resolvePackageFile(ctx.spec.specDir, config.file);
      const size = (await fs.stat(file)).size;
      if (size > MAX_SQL_FILE_BYTES)
        throw new StepError(`'${config.file}' is larger than ${MAX_SQL_FILE_BYTES} bytes`);
      texts = [{ text: await fs.readFile(file, 'utf8'), label: config.file }];
    } else {
      texts = (config.statements ?? []).map((text, i) => ({ text, label: `statement ${i + 1}` }));
    }

    const client = await connectPostgres(config.connection, ctx.spec);
    ctx.logger.info(
      `${texts.length === 1 && config.file ? config.file : `${texts.length} statement(s)`} on ${describeConnection(config.connection)}`,
    );
    let total = 0;
    let count = 0;
    try {
      await client.query('BEGIN');
      if (config.timeoutSeconds !== undefined)
        await client.query(`SET LOCAL statement_timeout = ${Math.ceil(config.timeoutSeconds * 1000)}`);
      for (const { text, label } of texts) {
        let res: unknown;
        try {
          res = await client.query(text);
        } catch (err) {
          const pos = Number((err as { position?: unknown }).position);
          const where = config.file && Number.isFinite(pos) && pos > 0 ? ` line ${lineAt(text, pos)}` : '';
          throw new StepError(`${label}${where} failed, nothing is committed: ${describePgError(err)}`);
        }
        const results = (Array.isArray(res) ? res : [res]) as PgResult[];
        for (const r of results) {
          count++;
          const rows = r.rowCount ?? 0;
          total += rows;
          ctx.logger.info(
            `${config.file ? `${config.file} statement ${count}` : label}: ${r.command ?? 'done'}${r.rowCount === null ? '' : `, ${rows} row(s)`}`,
          );
        }
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (err instanceof StepError) throw err;
      throw new StepError(describePgError(err));
    } finally {
      await client.end().catch(() => undefined);
    }
    ctx.logger.info(`committed: ${count} statement(s), ${total} row(s) affected`);
    return { statements: count, rowsAffected: total };
  },
);
