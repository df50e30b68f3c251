import { needsReencryption, reencryptSecret, SecretDecryptionError, type SecretsKeyring } from '@im/config';
import type { Knex } from '@im/db';
import type { Logger } from '@im/logging';
import { createHash, createHmac } from 'node:crypto';

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

/** Names a keyring (its key ids and keys, in order) without revealing a key: a sha256 of HMACs. */
function fingerprint(secrets: SecretsKeyring): string {
  const parts = [...secrets.keys].map(
    ([kid, key]) => `${kid}:${createHmac('sha256', key).update('im-secrets-keyring').digest('hex')}`,
  );
  return createHash('sha256').update(parts.join(',')).digest('hex');
}

/**
 * Brings every stored secure macro value to the keyring's first key, at start-up: legacy plain
 * values (written before values were encrypted) are encrypted, values of an older key (after a
 * rotation) are encrypted again. Covers configurations' macros, jobs' run-request macros and job
 * requests still waiting in the outbox. Each row is written with a compare-and-set on the column it
 * read, so replicas starting together and concurrent changes do not overwrite each other (a row that
 * changed meanwhile was written by the current code: sealed already). A value whose key is not in the
 * keyring is logged (key id and row, never the value) and left as it is. Non-secure values are never
 * touched. Jobs are read from where the last complete pass under the same keyring ended
 * (`secrets_sealed`): a start after the first reads only the jobs submitted since.
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

  /**
   * Seals `column` (a JSON array of macros) of every row of `table` holding a secure macro, paging
   * on `cursor` from `after`; answers how many rows were written.
   */
  const sealRows = async (
    t: { table: string; cursor: string; column: string; label: string },
    after: number,
  ): Promise<number> => {
    let sealed = 0;
    for (;;) {
      const rows = (await db(t.table)
        .select(t.cursor, 'id', t.column)
        .where(t.cursor, '>', after)
        .andWhere(t.column, 'like', '%"secure":true%')
        .orderBy(t.cursor)
        .limit(BATCH)) as Record<string, string | number>[];
      for (const r of rows) {
        const stored = String(r[t.column]);
        const next = seal(JSON.parse(stored) as MacroLike[], `${t.label} ${r.id}`);
        if (!next) continue;
        sealed += await db(t.table)
          .where({ id: r.id, [t.column]: stored })
          .update({ [t.column]: JSON.stringify(next) });
      }
      if (rows.length < BATCH) return sealed;
      after = Number(rows[rows.length - 1]?.[t.cursor]);
    }
  };

  // Configurations: few rows, and changed at any time (by an older replica too, during an upgrade).
  report.configs = await sealRows(
    { table: 'job_configs', cursor: 'id', column: 'macros', label: 'job configuration' },
    0,
  );

  // Jobs: their run macros are written once, at submission, so only jobs submitted since the last
  // complete pass under this keyring are read (all of them after a rotation or the upgrade).
  const keyring = fingerprint(secrets);
  const done = (await db('secrets_sealed').where({ keyring }).first()) as
    { jobs_seq: number | string } | undefined;
  const upTo = Number(
    ((await db('jobs').max({ seq: 'seq' }).first()) as { seq: number | string | null }).seq ?? 0,
  );
  report.jobs = await sealRows(
    { table: 'jobs', cursor: 'seq', column: 'run_macros', label: 'job' },
    Number(done?.jobs_seq ?? 0),
  );
  // Jobs submitted during the pass by this code are sealed already; by an older replica, the next
  // start reads them (they lie above `upTo`).
  await db('secrets_sealed')
    .insert({ keyring, jobs_seq: upTo, sealed_at: Date.now() })
    .onConflict('keyring')
    .merge();

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
