import type { Role } from '@im/contracts';
import { fetchPage, type Knex, type PageRequest, type PageResult } from '@im/db';
import { RefreshTokenRepository } from './refresh-token.repository';

export interface UserRow {
  id: number;
  name: string;
  name_key: string;
  password_hash: string;
  email: string | null;
  full_name: string | null;
  active: boolean | number;
  roles: string;
  account_id: number;
  failed_logins: number;
  locked_until: number | string | null;
  created_at: number | string;
  updated_at: number | string;
}

export interface UserRecord {
  id: string;
  name: string;
  passwordHash: string;
  email: string | null;
  fullName: string | null;
  active: boolean;
  roles: Role[];
  /** The account (tenant) the user belongs to. */
  accountId: string;
  failedLogins: number;
  lockedUntil: number | null;
  createdAt: number;
  updatedAt: number;
}

export function toRecord(row: UserRow): UserRecord {
  return {
    id: String(row.id),
    name: row.name,
    passwordHash: row.password_hash,
    email: row.email,
    fullName: row.full_name,
    active: Boolean(row.active),
    roles: row.roles.split(',').filter(Boolean) as Role[],
    accountId: String(row.account_id),
    failedLogins: row.failed_logins,
    lockedUntil: row.locked_until === null ? null : Number(row.locked_until),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export interface NewUser {
  name: string;
  passwordHash: string;
  email: string | null;
  fullName: string | null;
  active: boolean;
  roles: Role[];
  accountId: string;
}

/** Users and refresh tokens in the auth service's own schema. knex stays in here. */
export class UserRepository {
  constructor(private readonly db: Knex) {}

  /** The refresh tokens of these users, on the same connection (or transaction). */
  refreshTokens(): RefreshTokenRepository {
    return new RefreshTokenRepository(this.db);
  }

  /** Runs `fn` in one transaction, with a repository bound to it. */
  transaction<T>(fn: (repo: UserRepository) => Promise<T>): Promise<T> {
    return this.db.transaction((trx) => fn(new UserRepository(trx)));
  }

  async count(): Promise<number> {
    const row = (await this.db('users').count({ n: '*' }).first()) as { n: number | string } | undefined;
    return Number(row?.n ?? 0);
  }

  async findById(id: string): Promise<UserRecord | undefined> {
    const row = (await this.db('users')
      .where({ id: Number(id) })
      .first()) as UserRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  async findByName(name: string): Promise<UserRecord | undefined> {
    const row = (await this.db('users').where({ name_key: name.toLowerCase() }).first()) as
      UserRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Inserts a user; returns undefined when the name is taken. */
  async insert(u: NewUser, now: number): Promise<UserRecord | undefined> {
    const existing = await this.findByName(u.name);
    if (existing) return undefined;
    const [row] = (await this.db('users')
      .insert({
        name: u.name,
        name_key: u.name.toLowerCase(),
        password_hash: u.passwordHash,
        email: u.email,
        full_name: u.fullName,
        active: u.active,
        roles: u.roles.join(','),
        account_id: Number(u.accountId),
        failed_logins: 0,
        created_at: now,
        updated_at: now,
      })
      .returning('*')) as UserRow[];
    return row ? toRecord(row) : undefined;
  }

  async update(
    id: string,
    patch: Partial<
      Pick<
        UserRecord,
        'email' | 'fullName' | 'active' | 'roles' | 'passwordHash' | 'failedLogins' | 'lockedUntil'
      >
    >,
    now: number,
  ): Promise<UserRecord | undefined> {
    const cols: Record<string, unknown> = { updated_at: now };
    if (patch.email !== undefined) cols.email = patch.email;
    if (patch.fullName !== undefined) cols.full_name = patch.fullName;
    if (patch.active !== undefined) cols.active = patch.active;
    if (patch.roles !== undefined) cols.roles = patch.roles.join(',');
    if (patch.passwordHash !== undefined) cols.password_hash = patch.passwordHash;
    if (patch.failedLogins !== undefined) cols.failed_logins = patch.failedLogins;
    if (patch.lockedUntil !== undefined) cols.locked_until = patch.lockedUntil;
    await this.db('users')
      .where({ id: Number(id) })
      .update(cols);
    return this.findById(id);
  }

  /** A page of the users of one account. */
  async page(accountId: string, req: PageRequest): Promise<PageResult<UserRecord>> {
    const res = await fetchPage<UserRow>(
      this.db('users')
        .select('*')
        .where({ account_id: Number(accountId) }),
      req,
      { id: 'id', name: 'name_key', created: 'created_at', lastModified: 'updated_at' },
      'id',
    );
    return { rows: res.rows.map(toRecord), total: res.total };
  }

  async insertRefreshToken(userId: string, tokenHash: string, expiresAt: number, now: number): Promise<void> {
    await this.db('refresh_tokens').insert({
      user_id: Number(userId),
      token_hash: tokenHash,
      expires_at: expiresAt,
      created_at: now,
    });
  }

  /**
   * Consumes a refresh token once: marks it revoked and returns its user id, or undefined when it is
   * unknown, already used or expired. The update is conditional, so two racing refreshes cannot both win.
   */
  async consumeRefreshToken(tokenHash: string, now: number): Promise<string | undefined> {
    const row = (await this.db('refresh_tokens').where({ token_hash: tokenHash }).first()) as
      | { id: number; user_id: number; expires_at: number | string; revoked_at: number | string | null }
      | undefined;
    if (!row || row.revoked_at !== null || Number(row.expires_at) <= now) return undefined;
    const n = await this.db('refresh_tokens')
      .where({ id: row.id })
      .whereNull('revoked_at')
      .update({ revoked_at: now });
    return n === 1 ? String(row.user_id) : undefined;
  }

  async revokeRefreshTokens(userId: string, now: number): Promise<void> {
    await this.db('refresh_tokens')
      .where({ user_id: Number(userId) })
      .whereNull('revoked_at')
      .update({ revoked_at: now });
  }
}
