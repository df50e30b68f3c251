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
];
