import { needsReencryption, reencryptSecret, SecretDecryptionError, type SecretsKeyring } from '@im/config';
import type { Knex } from '@im/db';
import type { Logger } from '@im/logging';

/** Rows read per round trip. */
const BATCH = 200;

export interface SecretsAtRestReport {
  /** Configurations whose secure macro values were encrypted (or moved to the first key). */
  configs: number;
  /** Jobs whose secure run-request macro values were. */
  jobs: number;
  /** Queued job requests (outbox) whose secure values were. */
  requests: number;
  /** Values that could not be decrypted (their key is not in the keyring); left as they are. */
  failed: number;
}

interface MacroLike {
  key: string;
  value: string | null;
  secure: boolean;
}

/**
 * Brings every stored secure macro value to the keyring's first key, at start-up: legacy plain
 * values (written before values were encrypted) are encrypted, values of an older key (after a
 * rotation) are encrypted again. Covers configurations' macros, jobs' run-request macros and job
 * requests still waiting in the outbox. Each row is written with a compare-and-set on the column it
 * read, so replicas starting together and concurrent changes do not overwrite each other (a row that
 * changed meanwhile was written by the current code: sealed already). A value whose key is not in the
 * keyring is logged (key id and row, never the value) and left as it is. Non-secure values are never
 * touched.
 */
export async function secureStoredSecrets(
  db: Knex,
  secrets: SecretsKeyring,
  logger: Logger,
): Promise<SecretsAtRestReport> {
  const report: SecretsAtRestReport = { configs: 0, jobs: 0, requests: 0, failed: 0 };

  const seal = (macros: MacroLike[], where: string): MacroLike[] | undefined => {
    let changed = false;
    const out = macros.map((m) => {
      if (!m.secure || typeof m.value !== 'string' || !needsReencryption(m.value, secrets)) return m;
      try {
        const value = reencryptSecret(m.value, secrets);
        changed = true;
        return { ...m, value };
      } catch (err) {
        if (!(err instanceof SecretDecryptionError)) throw err;
        report.failed++;
        logger.error(
          { kid: err.kid, macro: m.key, where },
          `secure macro ${m.key} of ${where} cannot be re-encrypted: ${err.message}`,
        );
        return m;
      }
    });
    return changed ? out : undefined;
  };

  /** Every row of `table` whose `column` (a JSON array of macros) holds a secure macro, in id order. */
  const sealColumn = async (
    table: 'job_configs' | 'jobs',
    column: 'macros' | 'run_macros',
    where: (id: string) => string,
  ): Promise<number> => {
    let sealed = 0;
    for (let after: string | number | undefined; ;) {
      const q = db(table).select('id', column).andWhere(column, 'like', '%"secure":true%');
      if (after !== undefined) q.where('id', '>', after);
      const rows = (await q.orderBy('id').limit(BATCH)) as ({ id: number | string } & Record<
        string,
        string
      >)[];
      for (const r of rows) {
        const stored = r[column] as string;
        const next = seal(JSON.parse(stored) as MacroLike[], where(String(r.id)));
        if (!next) continue;
        sealed += await db(table)
          .where({ id: r.id, [column]: stored })
          .update({ [column]: JSON.stringify(next) });
      }
      if (rows.length < BATCH) return sealed;
      after = rows[rows.length - 1]?.id;
    }
  };
  // Configurations' macros, and jobs' run-request macros (only rows with a secure one are read).
  report.configs = await sealColumn('job_configs', 'macros', (id) => `job configuration ${id}`);
  report.jobs = await sealColumn('jobs', 'run_macros', (id) => `job ${id}`);

  // Job requests written before the upgrade and not published yet.
  const pending = (await db('outbox')
    .select('id', 'payload')
    .where({ topic: 'job.requests' })
    .andWhere('payload', 'like', '%"secure":true%')) as { id: number | string; payload: string }[];
  for (const r of pending) {
    const payload = JSON.parse(r.payload) as { jobId?: string; macros?: MacroLike[] };
    const next = seal(payload.macros ?? [], `the queued request of job ${payload.jobId ?? '?'}`);
    if (!next) continue;
    const n = await db('outbox')
      .where({ id: r.id, payload: r.payload })
      .update({ payload: JSON.stringify({ ...payload, macros: next }) });
    report.requests += n;
  }

  if (report.configs + report.jobs + report.requests + report.failed > 0)
    logger.info({ ...report, kid: secrets.primaryKid }, 'secure macro values encrypted at rest');
  return report;
}
