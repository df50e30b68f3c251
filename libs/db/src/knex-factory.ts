import * as fs from 'node:fs';
import * as path from 'node:path';
import knexFactory, { type Knex } from 'knex';

export type { Knex } from 'knex';

export type DbConfig =
  | { client: 'sqlite'; filename: string }
  | {
      client: 'postgres';
      url: string;
      /** The service's own schema; created by its migrations step, set as search_path. */
      schema: string;
      poolMax?: number;
      ssl?: boolean;
    };

/** Opens a knex instance on SQLite (better-sqlite3) or PostgreSQL (pg), the same API on both. */
export function createDb(config: DbConfig): Knex {
  if (config.client === 'sqlite') {
    if (config.filename !== ':memory:')
      fs.mkdirSync(path.dirname(config.filename), { recursive: true, mode: 0o700 });
    return knexFactory({
      client: 'better-sqlite3',
      connection: { filename: config.filename },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        afterCreate: (
          conn: { pragma(s: string): unknown },
          done: (err: Error | null, conn: unknown) => void,
        ) => {
          conn.pragma('journal_mode = WAL');
          conn.pragma('foreign_keys = ON');
          conn.pragma('busy_timeout = 5000');
          conn.pragma('synchronous = NORMAL');
          done(null, conn);
        },
      },
    });
  }
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: config.url,
      ...(config.ssl ? { ssl: { rejectUnauthorized: true } } : {}),
    },
    searchPath: [config.schema],
    pool: { min: 0, max: config.poolMax ?? 10 },
  });
}

export function isPostgres(db: Knex): boolean {
  return (db.client as { config: { client: string } }).config.client === 'pg';
}
