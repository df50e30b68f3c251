import { DEFAULT_ACCOUNT_ID, type CreateAccountRequest, type Principal } from '@im/contracts';
import type { Knex } from '@im/db';
import { ConflictError, ForbiddenError, NotFoundError, UnavailableError } from '@im/errors';
import type { Logger } from '@im/logging';
import { AccountRepository, type AccountRecord } from './account.repository';
import type { UserChangePublisher } from './auth.service';
import { hashPassword } from './password';
import { UserRepository, type UserRecord } from './user.repository';

/**
 * Accounts (tenants). Every installation has its first account (id 1, created by the migration); the
 * administrators of that account operate the installation and are the only ones who create further
 * accounts, each with its first administrator. Inside an account its own administrators manage users.
 */
export class AccountService {
  private readonly accounts: AccountRepository;

  constructor(
    private readonly db: Knex,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly publishUserChange?: UserChangePublisher,
  ) {
    this.accounts = new AccountRepository(db);
  }

  /** The caller's own account. */
  async mine(actor: Principal): Promise<AccountRecord> {
    return this.get(actor.accountId);
  }

  async get(id: string): Promise<AccountRecord> {
    const a = await this.accounts.findById(id);
    if (!a) throw new NotFoundError(`There is no account ${id}.`);
    return a;
  }

  static mayCreateAccounts(actor: Principal): boolean {
    return actor.accountId === DEFAULT_ACCOUNT_ID && actor.roles.includes('admin');
  }

  /** A new account and its first administrator, in one transaction. */
  async create(
    actor: Principal,
    input: CreateAccountRequest,
  ): Promise<{ account: AccountRecord; admin: UserRecord }> {
    if (!AccountService.mayCreateAccounts(actor)) {
      throw new ForbiddenError(
        "Only administrators of the installation's first account create accounts; ask your operator.",
      );
    }
    const passwordHash = await hashPassword(input.admin.password);
    const now = this.now();
    const created = await this.db.transaction(async (trx) => {
      const account = await new AccountRepository(trx).insert(input.name, now);
      if (!account)
        throw new ConflictError(`An account named "${input.name}" exists already; choose another name.`);
      const admin = await new UserRepository(trx).insert(
        {
          name: input.admin.name,
          passwordHash,
          email: input.admin.email ?? null,
          fullName: input.admin.fullName ?? null,
          active: true,
          roles: ['admin'],
          accountId: account.id,
        },
        now,
      );
      if (!admin)
        throw new ConflictError(
          `A user named "${input.admin.name}" exists already; choose another name for the administrator.`,
          'USERNAME_TAKEN',
        );
      if (this.publishUserChange) {
        try {
          await this.publishUserChange({
            userId: admin.id,
            accountId: account.id,
            name: admin.name,
            active: admin.active,
            roles: admin.roles,
            change: 'created',
            changedBy: { id: actor.id, name: actor.name },
            occurredAt: new Date(now).toISOString(),
          });
        } catch (err) {
          throw new UnavailableError('The new account could not be announced; try again shortly.', err);
        }
      }
      return { account, admin };
    });
    this.logger.info(
      { accountId: created.account.id, adminId: created.admin.id, by: actor.id },
      'account created',
    );
    return created;
  }
}
