import type { Migration } from '@im/db';

/** The auth service's schema: users and their refresh tokens. Times are epoch milliseconds. */
export const authMigrations: Migration[] = [
  {
    name: '20261128_0001_create_users',
    // Why: users are the root of every ownership check; names are unique case-insensitively.
    async up(db) {
      await db.schema.createTable('users', (t) => {
        t.increments('id').primary();
        t.string('name', 64).notNullable();
        t.string('name_key', 64).notNullable().unique();
        t.string('password_hash', 255).notNullable();
        t.string('email', 320).nullable();
        t.string('full_name', 255).nullable();
        t.boolean('active').notNullable().defaultTo(true);
        t.string('roles', 255).notNullable();
        t.integer('failed_logins').notNullable().defaultTo(0);
        t.bigInteger('locked_until').nullable();
        t.bigInteger('created_at').notNullable();
        t.bigInteger('updated_at').notNullable();
      });
    },
    async down(db) {
      await db.schema.dropTable('users');
    },
  },
  {
    name: '20261128_0002_create_refresh_tokens',
    // Why: refresh tokens are opaque and rotated; only their SHA-256 is stored, so a leaked table is useless.
    async up(db) {
      await db.schema.createTable('refresh_tokens', (t) => {
        t.increments('id').primary();
        t.integer('user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
        t.string('token_hash', 64).notNullable().unique();
        t.bigInteger('expires_at').notNullable();
        t.bigInteger('revoked_at').nullable();
        t.bigInteger('created_at').notNullable();
        t.index(['user_id']);
      });
    },
    async down(db) {
      await db.schema.dropTable('refresh_tokens');
    },
  },
  {
    name: '20261128_0003_accounts',
    // Why: every user belongs to one account (tenant) and nothing crosses accounts. The installation's
    // first account (id 1) is created here and takes every existing user, the first administrator too.
    async up(db) {
      await db.schema.createTable('accounts', (t) => {
        t.increments('id').primary();
        t.string('name', 128).notNullable();
        t.string('name_key', 128).notNullable().unique();
        t.bigInteger('created_at').notNullable();
        t.bigInteger('updated_at').notNullable();
      });
      const now = Date.now();
      // The first row of a new table: id 1 on SQLite and PostgreSQL alike (DEFAULT_ACCOUNT_ID).
      await db('accounts').insert({ name: 'Default', name_key: 'default', created_at: now, updated_at: now });
      await db.schema.alterTable('users', (t) => {
        t.integer('account_id').notNullable().defaultTo(1);
        t.index(['account_id']);
      });
    },
    async down(db) {
      await db.schema.alterTable('users', (t) => {
        t.dropIndex(['account_id']);
        t.dropColumn('account_id');
      });
      await db.schema.dropTable('accounts');
    },
  },
  {
    name: '20261128_0004_refresh_token_families',
    // Why: a refresh token used twice means it was stolen; the family links the tokens of one login so
    // that reuse revokes all of them. used_at (rotated) is kept apart from revoked_at (logout, reuse).
    async up(db) {
      await db.schema.alterTable('refresh_tokens', (t) => {
        t.string('family_id', 64).nullable();
        t.bigInteger('used_at').nullable();
        t.index(['family_id']);
      });
    },
    async down(db) {
      await db.schema.alterTable('refresh_tokens', (t) => {
        t.dropIndex(['family_id']);
        t.dropColumn('used_at');
        t.dropColumn('family_id');
      });
    },
  },
  {
    name: '20261128_0005_audit_events',
    // Why: the audit trail (issue #7): every service publishes audit events, auth stores them once per
    // id for GET /api/audit, filtered by account, action, actor, resource, outcome and time.
    async up(db) {
      await db.schema.createTable('audit_events', (t) => {
        t.string('id', 64).primary();
        t.bigInteger('occurred_at').notNullable();
        t.string('actor_id', 64).nullable();
        t.string('actor_name', 128).nullable();
        t.string('account_id', 64).nullable();
        t.string('action', 64).notNullable();
        t.string('resource_type', 32).nullable();
        t.string('resource_id', 512).nullable();
        t.string('outcome', 16).notNullable();
        t.string('source_ip', 64).nullable();
        t.string('request_id', 128).nullable();
        t.string('service', 32).notNullable();
        t.text('details').notNullable();
        t.index(['account_id', 'occurred_at']);
        t.index(['action', 'occurred_at']);
        t.index(['actor_id', 'occurred_at']);
        t.index(['resource_type', 'resource_id']);
      });
    },
    async down(db) {
      await db.schema.dropTable('audit_events');
    },
  },
];
