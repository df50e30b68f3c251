import { decryptSecret, encryptSecret, isEncryptedSecret, type SecretsKeyring } from '@im/config';
import type { LogLevel, MacroInput } from '@im/contracts';
import { fetchPage, type Knex, type PageRequest, type PageResult } from '@im/db';
import { InputError } from '@im/errors';
import type { MacroBinding } from './secret-binding';

/**
 * A stored macro; `value` of a secure macro never leaves the service through the API. Read from the
 * database, a secure macro's value is encrypted (`enc:v1:…`, see {@link sealSecret}; a legacy plain
 * value until the start-up re-encryption ran); it is decrypted only to build a job request.
 */
export interface StoredMacro {
  key: string;
  value: string | null;
  secure: boolean;
  description: string | null;
  /** A secure value's binding to the code it may reach (ADR 0016); set by the services, never returned. */
  binding?: MacroBinding;
}

export interface JobConfigRecord {
  id: string;
  /** The owner's account (tenant): set at creation, never changed; nothing crosses accounts. */
  accountId: string;
  ownerId: string;
  ownerName: string;
  name: string;
  description: string | null;
  active: boolean;
  packageName: string | null;
  entryPoint: string | null;
  packageArtifactOverride: boolean;
  logLevel: LogLevel;
  macros: StoredMacro[];
  timeoutMinutes: number;
  blocking: boolean;
  maxAttempts: number;
  schedule: string | null;
  tags: string[];
  createdAt: number;
  createdBy: { id: string; name: string };
  updatedAt: number;
  updatedBy: { id: string; name: string };
}

export type JobConfigWrite = Omit<
  JobConfigRecord,
  'id' | 'accountId' | 'ownerId' | 'ownerName' | 'createdAt' | 'createdBy'
>;

interface Row {
  id: number;
  account_id: string;
  owner_id: string;
  owner_name: string;
  name: string;
  description: string | null;
  active: boolean | number;
  package_name: string | null;
  entry_point: string | null;
  package_artifact_override: boolean | number;
  log_level: string;
  macros: string;
  timeout_minutes: number;
  blocking: boolean | number;
  max_attempts: number;
  schedule: string | null;
  tags: string;
  created_at: number | string;
  created_by_id: string;
  created_by_name: string;
  updated_at: number | string;
  updated_by_id: string;
  updated_by_name: string;
}

function toRecord(r: Row): JobConfigRecord {
  return {
    id: String(r.id),
    accountId: String(r.account_id),
    ownerId: r.owner_id,
    ownerName: r.owner_name,
    name: r.name,
    description: r.description,
    active: Boolean(r.active),
    packageName: r.package_name,
    entryPoint: r.entry_point,
    packageArtifactOverride: Boolean(r.package_artifact_override),
    logLevel: r.log_level as LogLevel,
    macros: JSON.parse(r.macros) as StoredMacro[],
    timeoutMinutes: r.timeout_minutes,
    blocking: Boolean(r.blocking),
    maxAttempts: r.max_attempts,
    schedule: r.schedule,
    tags: JSON.parse(r.tags) as string[],
    createdAt: Number(r.created_at),
    createdBy: { id: r.created_by_id, name: r.created_by_name },
    updatedAt: Number(r.updated_at),
    updatedBy: { id: r.updated_by_id, name: r.updated_by_name },
  };
}

/**
 * A secure value as it is stored: encrypted with the keyring's first key. A value that is encrypted
 * already and decrypts with the keyring (a kept value) stays as it is; anything else (a new value,
 * even one that only looks encrypted) is encrypted. Without a keyring (tests of parts), as it is.
 */
export function sealSecret(value: string, secrets: SecretsKeyring | undefined): string {
  if (!secrets) return value;
  if (isEncryptedSecret(value)) {
    try {
      decryptSecret(value, secrets);
      return value;
    } catch {
      // Not one of ours: a new value that looks like one. Encrypted like any other.
    }
  }
  return encryptSecret(value, secrets);
}

/** Macros as stored: secure values sealed ({@link sealSecret}), the others as they are. */
export function sealMacros<M extends { value: string | null; secure: boolean }>(
  macros: M[],
  secrets: SecretsKeyring | undefined,
): M[] {
  return macros.map((m) =>
    m.secure && m.value !== null && m.value !== undefined ? { ...m, value: sealSecret(m.value, secrets) } : m,
  );
}

function toColumns(w: JobConfigWrite, secrets: SecretsKeyring | undefined) {
  return {
    name: w.name,
    description: w.description,
    active: w.active,
    package_name: w.packageName,
    entry_point: w.entryPoint,
    package_artifact_override: w.packageArtifactOverride,
    log_level: w.logLevel,
    macros: JSON.stringify(sealMacros(w.macros, secrets)),
    timeout_minutes: w.timeoutMinutes,
    blocking: w.blocking,
    max_attempts: w.maxAttempts,
    schedule: w.schedule,
    tags: JSON.stringify(w.tags),
    updated_at: w.updatedAt,
    updated_by_id: w.updatedBy.id,
    updated_by_name: w.updatedBy.name,
  };
}

export const JOB_CONFIG_SORTABLE = {
  id: 'id',
  name: 'name',
  created: 'created_at',
  lastModified: 'updated_at',
  active: 'active',
};

const MACRO_UPDATE_ATTEMPTS = 5;

export class JobConfigRepository {
  /** `secrets`: the keyring secure macro values are encrypted with (the module always gives one). */
  constructor(
    private readonly db: Knex,
    private readonly secrets?: SecretsKeyring,
  ) {}

  async insert(
    owner: { id: string; name: string; accountId: string },
    w: JobConfigWrite,
  ): Promise<JobConfigRecord> {
    const [row] = (await this.db('job_configs')
      .insert({
        ...toColumns(w, this.secrets),
        account_id: owner.accountId,
        owner_id: owner.id,
        owner_name: owner.name,
        created_at: w.updatedAt,
        created_by_id: owner.id,
        created_by_name: owner.name,
      })
      .returning('*')) as Row[];
    return toRecord(row as Row);
  }

  async findById(id: string): Promise<JobConfigRecord | undefined> {
    const row = (await this.db('job_configs')
      .where({ id: Number(id) })
      .first()) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  async update(id: string, w: JobConfigWrite): Promise<JobConfigRecord | undefined> {
    await this.db('job_configs')
      .where({ id: Number(id) })
      .update(toColumns(w, this.secrets));
    return this.findById(id);
  }

  /**
   * Changes the macros of a configuration with a compare-and-set on the stored list, so two requests
   * changing macros at once cannot lose each other's change: `change` sees the current list and returns
   * the new one (or throws); on a concurrent change it runs again on the newer list. Resolves to the
   * updated configuration, or undefined when there is none. Without `meta` (a change of the platform's,
   * not a user's: bindings at start-up) lastModified stays as it is and values are written exactly as
   * they were read (never sealed again: a value of a key no longer listed must stay as it is).
   */
  async updateMacros(
    id: string,
    change: (current: JobConfigRecord) => StoredMacro[],
    meta?: { updatedAt: number; updatedBy: { id: string; name: string } },
  ): Promise<JobConfigRecord | undefined> {
    for (let attempt = 1; ; attempt++) {
      const row = (await this.db('job_configs')
        .where({ id: Number(id) })
        .first()) as Row | undefined;
      if (!row) return undefined;
      const next = change(toRecord(row));
      const n = await this.db('job_configs')
        .where({ id: Number(id), macros: row.macros })
        .update({
          macros: JSON.stringify(meta ? sealMacros(next, this.secrets) : next),
          ...(meta
            ? {
                updated_at: meta.updatedAt,
                updated_by_id: meta.updatedBy.id,
                updated_by_name: meta.updatedBy.name,
              }
            : {}),
        });
      if (n === 1) return this.findById(id);
      if (attempt >= MACRO_UPDATE_ATTEMPTS) {
        throw new Error(`the macros of job configuration ${id} kept changing concurrently`);
      }
    }
  }

  /** Ids of configurations whose macros may hold a secure value (a coarse filter on the JSON). */
  async idsWithSecureMacros(afterId: number, limit: number): Promise<string[]> {
    const rows = (await this.db('job_configs')
      .select('id')
      .where('id', '>', afterId)
      .andWhere('macros', 'like', '%"secure":true%')
      .orderBy('id')
      .limit(limit)) as { id: number }[];
    return rows.map((r) => String(r.id));
  }

  async delete(id: string): Promise<void> {
    await this.db('job_configs')
      .where({ id: Number(id) })
      .delete();
  }

  /** A page of one account's configurations (of one owner when `ownerId` is given). */
  async page(
    scope: { accountId: string; ownerId?: string },
    req: PageRequest,
  ): Promise<PageResult<JobConfigRecord>> {
    const q = this.db('job_configs').select('*').where({ account_id: scope.accountId });
    if (scope.ownerId !== undefined) q.where({ owner_id: scope.ownerId });
    const res = await fetchPage<Row>(q, req, JOB_CONFIG_SORTABLE, 'id');
    return { rows: res.rows.map(toRecord), total: res.total };
  }
}

/**
 * The macros a configuration holds once `input` replaces `previous` (a PUT of the configuration, or
 * of one macro). A value left out keeps the stored one; a secure macro's value is write-only, so
 * `null` for a macro that stays secure keeps it too. A secure macro that becomes plain needs a new
 * value: its stored one is never revealed. Throws a field error for that.
 */
export function mergeMacros(
  previous: StoredMacro[],
  input: MacroInput[],
  pathPrefix = 'runtimeConfig.macros',
): StoredMacro[] {
  return input.map((m, i) => {
    const old = previous.find((p) => p.key === m.key);
    if (old?.secure && !m.secure && (m.value === undefined || m.value === null)) {
      throw new InputError(
        `Macro ${m.key} is secure: to make it a plain macro, send its new value too (the stored one is never revealed).`,
        [
          {
            path: pathPrefix ? `${pathPrefix}.${i}.value` : 'value',
            message: 'required when a secure macro becomes a plain one',
          },
        ],
      );
    }
    const kept = m.value === undefined || (m.value === null && m.secure && old?.secure);
    const value = kept ? (old?.value ?? null) : (m.value ?? null);
    const merged: StoredMacro = {
      key: m.key,
      value,
      secure: m.secure,
      description: m.description ?? old?.description ?? null,
    };
    // A kept secure value keeps its binding; a new one (or one made secure now) is bound by the service.
    if (kept && m.secure && old?.secure && old.binding) merged.binding = old.binding;
    return merged;
  });
}
