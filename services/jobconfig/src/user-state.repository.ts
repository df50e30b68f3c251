import type { Knex } from '@im/db';
import type { UserState } from '@im/http-kit';

interface UserStateRow {
  account_id: string;
  active: boolean | number;
  roles: string | null;
}

/**
 * The projection of auth's `user.changes`: each user's account, active flag and roles as auth last
 * announced them. jobconfig refuses a deactivated user's tokens and runs, and narrows a token's roles
 * to the current ones. A user never heard of has no state: their token's claims stand (it was signed by
 * auth, and auth refuses inactive users at login).
 */
export class UserStateRepository {
  constructor(private readonly db: Knex) {}

  async get(userId: string): Promise<UserState | undefined> {
    const row = (await this.db('user_states').where({ user_id: userId }).first()) as UserStateRow | undefined;
    if (!row) return undefined;
    // Rows projected before roles were kept: the token's roles stand until the user's next change.
    if (row.roles === null) {
      if (row.active) return undefined;
      return { active: false, roles: [], accountId: row.account_id };
    }
    return { active: !!row.active, roles: row.roles.split(',').filter(Boolean), accountId: row.account_id };
  }

  async isInactive(userId: string): Promise<boolean> {
    const state = await this.get(userId);
    return state !== undefined && !state.active;
  }

  /** Records the user's state; a record older than the stored one (a redelivery) changes nothing. */
  async apply(s: {
    userId: string;
    accountId: string;
    active: boolean;
    roles: readonly string[];
    at: number;
  }): Promise<void> {
    await this.db('user_states')
      .insert({
        user_id: s.userId,
        account_id: s.accountId,
        active: s.active,
        roles: s.roles.join(','),
        updated_at: s.at,
      })
      .onConflict('user_id')
      .merge(['account_id', 'active', 'roles', 'updated_at'])
      .where('user_states.updated_at', '<=', s.at);
  }
}
