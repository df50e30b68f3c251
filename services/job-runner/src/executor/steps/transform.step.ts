import { z } from '@im/contracts';
import { BUILTIN_CONNECTORS } from '../connectors/builtin.connectors';
import {
  sourceField,
  targetField,
  type ConnectorContext,
  type ConnectorRegistry,
} from '../connectors/connector.registry';
import { isPlainRow, kindOf } from '../formats/row.format';
import {
  compileExpression,
  describeJsonataError,
  JsonataExpression,
  truthy,
  type CompiledExpression,
  SLOW,
} from '../jsonata.expression';
import type { JobDirs } from '../package-file.resolver';
import { fileNameOf, RejectFileWriter, type RejectRecord } from '../reject-file.writer';
import { defineStep, failedWith, StepError, type StepHandler } from '../step.registry';

/** How rows are mapped: one expression per field, or one expression giving the whole row. */
export type RowMap =
  | { kind: 'fields'; fields: readonly (readonly [string, CompiledExpression])[] }
  | { kind: 'expression'; expression: CompiledExpression };

/** `map`: an object of field → JSONata expression, or one JSONata expression returning an object. */
export const RowMapField = z.unknown().transform((raw, ctx): RowMap => {
  const compile = (source: unknown, path: PropertyKey[]): CompiledExpression | undefined => {
    if (typeof source !== 'string' || source === '') {
      ctx.addIssue({ code: 'custom', path, message: 'must be a JSONata expression (a string)' });
      return undefined;
    }
    try {
      return compileExpression(source);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path, message: err instanceof Error ? err.message : String(err) });
      return undefined;
    }
  };
  if (typeof raw === 'string') {
    const expression = compile(raw, []);
    return expression ? { kind: 'expression', expression } : z.NEVER;
  }
  if (!isPlainRow(raw) || Object.keys(raw).length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an object of field: JSONata expression, or one JSONata expression',
    });
    return z.NEVER;
  }
  const fields: [string, CompiledExpression][] = [];
  for (const [k, v] of Object.entries(raw)) {
    const e = compile(v, [k]);
    if (e) fields.push([k, e]);
  }
  return fields.length === Object.keys(raw).length ? { kind: 'fields', fields } : z.NEVER;
});

class RowRejected extends Error {}

/** Applies the map to a row; throws RowRejected with the reason when it cannot. */
export async function applyRowMap(map: RowMap, row: unknown): Promise<unknown> {
  if (map.kind === 'expression') {
    let out: unknown;
    try {
      out = await map.expression.evaluate(row);
    } catch (err) {
      throw new RowRejected(describeJsonataError(err));
    }
    if (!isPlainRow(out)) throw new RowRejected(`map gives ${kindOf(out)}, not an object`);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [field, expression] of map.fields) {
    let v: unknown = expression.evaluateFast(row);
    if (v === SLOW) {
      try {
        v = await expression.evaluate(row);
      } catch (err) {
        throw new RowRejected(`field '${field}': ${describeJsonataError(err)}`);
      }
    }
    if (v !== undefined) out[field] = v;
  }
  return out;
}

/** A description with the job's directories written as the macros that name them. */
function shortenPaths(text: string, dirs: JobDirs): string {
  let out = text;
  for (const [dir, name] of [
    [dirs.outDir, 'LOCAL_JOB_OUT_DIR'],
    [dirs.workDir, 'LOCAL_JOB_WORK_DIR'],
    [dirs.specDir, 'LOCAL_JOB_SPEC_DIR'],
  ] as const) {
    if (dir) out = out.replaceAll(dir, `$(${name})`);
  }
  return out;
}

/** Rejects logged one by one; past this many, only the count (the reject file has them all). */
const LOGGED_REJECTS = 10;

export function transformFields(connectors: ConnectorRegistry) {
  return z.strictObject({
    source: sourceField(connectors),
    /** JSONata, row in, boolean out: rows for which it is false are left out (not rejected). */
    filter: JsonataExpression.optional(),
    map: RowMapField.optional(),
    target: targetField(connectors),
    /** Rejected rows tolerated: 0 = the first fails the step; N = the step fails at the N+1st. */
    maxErrors: z.int().min(0).default(0),
    /** The reject file (JSON Lines); default `<step>.rejects.jsonl` in the out dir. */
    rejects: z.string().min(1).optional(),
  });
}

/** The transform step on a given set of connectors (tests bring their own). */
export function createTransformStep(connectors: ConnectorRegistry): StepHandler {
  return defineStep('transform', transformFields(connectors), async (c, _common, ctx) => {
    const started = Date.now();
    const cctx: ConnectorContext = {
      spec: ctx.spec,
      logger: ctx.logger,
      services: ctx.services,
      stepPath: ctx.path,
    };
    const dirs: JobDirs = { specDir: ctx.spec.specDir, outDir: ctx.spec.outDir, workDir: ctx.spec.workDir };
    const rejects = new RejectFileWriter(dirs, c.rejects ?? `${fileNameOf(ctx.path)}.rejects.jsonl`);
    let read = 0;
    let sent = 0;
    let filtered = 0;
    let loadRejected = 0;
    const metrics = () => ({
      rowsRead: read,
      rowsWritten: sent - loadRejected,
      rowsRejected: rejects.count,
      rowsFiltered: filtered,
      durationMs: Date.now() - started,
    });

    const reject = async (r: RejectRecord): Promise<void> => {
      await rejects.write(r);
      if (rejects.count <= LOGGED_REJECTS)
        ctx.logger.warn(`rejected ${r.position} (${r.stage}): ${r.reason}`);
      if (rejects.count > c.maxErrors) {
        throw new StepError(
          c.maxErrors === 0
            ? `${r.position} rejected (${r.stage}): ${r.reason}; maxErrors is 0, so the step fails (rejects in ${rejects.displayPath})`
            : `more than maxErrors (${c.maxErrors}) rows rejected; the last: ${r.position} (${r.stage}): ${r.reason} (rejects in ${rejects.displayPath})`,
        );
      }
    };

    await rejects.prepare();
    ctx.logger.info(
      `${shortenPaths(c.source.description, dirs)} → ${shortenPaths(c.target.description, dirs)}`,
    );
    const sink = await c.target.open(cctx);
    let closed = false;
    try {
      for await (const item of c.source.open(cctx)) {
        read++;
        if (!item.ok) {
          await reject({ stage: 'read', position: item.position, reason: item.reason, row: item.raw });
          continue;
        }
        const row = item.row;
        if (c.filter) {
          let keep: boolean;
          try {
            keep = truthy(await c.filter.evaluate(row));
          } catch (err) {
            await reject({
              stage: 'filter',
              position: item.position,
              reason: describeJsonataError(err),
              row,
            });
            continue;
          }
          if (!keep) {
            filtered++;
            continue;
          }
        }
        let out = row;
        if (c.map) {
          try {
            out = await applyRowMap(c.map, row);
          } catch (err) {
            if (!(err instanceof RowRejected)) throw err;
            await reject({ stage: 'map', position: item.position, reason: err.message, row });
            continue;
          }
        }
        sent++;
        for (const r of await sink.write(out, item.position)) {
          loadRejected++;
          await reject({ stage: 'load', ...r });
        }
      }
      const late = await sink.close();
      closed = true;
      for (const r of late) {
        loadRejected++;
        await reject({ stage: 'load', ...r });
      }
    } catch (err) {
      if (!closed) await sink.abort().catch(() => undefined);
      await rejects.close().catch(() => undefined);
      throw failedWith(err, metrics());
    }
    await rejects.close();
    const m = metrics();
    ctx.logger.info(
      `read ${m.rowsRead} row(s), wrote ${m.rowsWritten}, rejected ${m.rowsRejected}` +
        `${m.rowsFiltered > 0 ? `, filtered out ${m.rowsFiltered}` : ''} in ${m.durationMs} ms` +
        `${m.rowsRejected > 0 ? ` (rejects in ${rejects.displayPath})` : ''}`,
    );
    return m;
  });
}

/**
 * `transform`: streams rows from a source connector through an optional `filter` and `map` (JSONata,
 * compiled once) to a target connector, with backpressure and in constant memory.
 */
export const transformStep = createTransformStep(BUILTIN_CONNECTORS);
