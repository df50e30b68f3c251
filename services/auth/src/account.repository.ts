import type { Knex } from '@im/db';

export interface AccountRecord {
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
}

interface AccountRow {
  id: number;
  name: string;
  name_key: string;
  created_at: number | string;
  updated_at: number | string;
}

const toRecord = (r: AccountRow): AccountRecord => ({
  id: String(r.id),
  name: r.name,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

/** Accounts (tenants) in the auth service's own schema. knex stays in here. */
export class AccountRepository {
  constructor(private readonly db: Knex) {}

  async findById(id: string): Promise<AccountRecord | undefined> {
    const row = (await this.db('accounts')
      .where({ id: Number(id) })
      .first()) as AccountRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Inserts an account; returns undefined when the name is taken (case-insensitively). */
  async insert(name: string, now: number): Promise<AccountRecord | undefined> {
    const key = name.toLowerCase();
    if (await this.db('accounts').where({ name_key: key }).first()) return undefined;
    try {
      const [row] = (await this.db('accounts')
        .insert({ name, name_key: key, created_at: now, updated_at: now })
        .returning('*')) as AccountRow[];
      return row ? toRecord(row) : undefined;
    } catch (err) {
      // Two creations of one name at once: the unique index decides, the loser gets a 409 too.
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
  }
}

/** PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE. */
function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
