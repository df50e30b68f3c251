import type { Knex } from '@im/db';

/**
 * The projection of auth's `user.changes`: which users are deactivated. Only what jobconfig needs to
 * refuse a deactivated user's tokens and runs; a user never heard of counts as active (their token was
 * signed by auth, and auth refuses inactive users at login).
 */
export class UserStateRepository {
  constructor(private readonly db: Knex) {}

  async isInactive(userId: string): Promise<boolean> {
    const row = (await this.db('user_states').where({ user_id: userId }).first()) as
      { active: boolean | number } | undefined;
    return row !== undefined && !row.active;
  }

  /** Records the user's state; a record older than the stored one (a redelivery) changes nothing. */
  async apply(s: { userId: string; accountId: string; active: boolean; at: number }): Promise<void> {
    await this.db('user_states')
      .insert({ user_id: s.userId, account_id: s.accountId, active: s.active, updated_at: s.at })
      .onConflict('user_id')
      .merge(['account_id', 'active', 'updated_at'])
      .where('user_states.updated_at', '<=', s.at);
  }
}
