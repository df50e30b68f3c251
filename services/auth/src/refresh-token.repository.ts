import type { Knex } from '@im/db';

interface RefreshTokenRow {
  id: number;
  user_id: number;
  family_id: string | null;
  expires_at: number | string;
  revoked_at: number | string | null;
  used_at: number | string | null;
}

/** What presenting a refresh token led to. */
export type RefreshOutcome =
  | { kind: 'rotated'; userId: string; familyId: string }
  /** The token had been used already: its whole family is revoked now. */
  | { kind: 'reused'; userId: string }
  /** Unknown, revoked or expired. */
  | { kind: 'invalid' };

/**
 * Refresh tokens, stored as SHA-256 hashes, in families: a login starts a family, each refresh marks
 * the presented token used and adds the next one to the same family. A used token presented again
 * means two parties hold the family (one of them stole it): every token of the family is revoked.
 */
export class RefreshTokenRepository {
  constructor(private readonly db: Knex) {}

  async insert(
    userId: string,
    familyId: string,
    tokenHash: string,
    expiresAt: number,
    now: number,
  ): Promise<void> {
    await this.db('refresh_tokens').insert({
      user_id: Number(userId),
      family_id: familyId,
      token_hash: tokenHash,
      expires_at: expiresAt,
      created_at: now,
    });
  }

  /**
   * Uses a token once. The update is conditional, so of two racing refreshes with one token only one
   * wins; the other counts as a reuse.
   */
  async use(tokenHash: string, now: number): Promise<RefreshOutcome> {
    const row = (await this.db('refresh_tokens').where({ token_hash: tokenHash }).first()) as
      RefreshTokenRow | undefined;
    if (!row) return { kind: 'invalid' };
    const userId = String(row.user_id);
    if (row.used_at !== null) {
      await this.revokeFamily(row, now);
      return { kind: 'reused', userId };
    }
    if (row.revoked_at !== null || Number(row.expires_at) <= now) return { kind: 'invalid' };
    const n = await this.db('refresh_tokens')
      .where({ id: row.id })
      .whereNull('used_at')
      .whereNull('revoked_at')
      .update({ used_at: now });
    if (n !== 1) {
      await this.revokeFamily(row, now);
      return { kind: 'reused', userId };
    }
    // Tokens issued before families existed start one at their first rotation.
    return { kind: 'rotated', userId, familyId: row.family_id ?? `legacy-${row.id}` };
  }

  private async revokeFamily(row: RefreshTokenRow, now: number): Promise<void> {
    const q = this.db('refresh_tokens').whereNull('revoked_at');
    await (row.family_id === null ? q.where({ id: row.id }) : q.where({ family_id: row.family_id })).update({
      revoked_at: now,
    });
  }

  /** Revokes every refresh token of a user (logout, password change, deactivation). */
  async revokeAllOf(userId: string, now: number): Promise<void> {
    await this.db('refresh_tokens')
      .where({ user_id: Number(userId) })
      .whereNull('revoked_at')
      .update({ revoked_at: now });
  }
}
