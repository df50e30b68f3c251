import type { Knex } from 'knex';
import { isPostgres } from './knex-factory';

/** One reversible schema change. `name` is timestamped (`20261128_0001_create_users`) and sorts in order. */
export interface Migration {
  name: string;
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

/** Serves migrations from code, so they run the same from TypeScript sources and from dist. */
class CodeMigrationSource implements Knex.MigrationSource<Migration> {
  constructor(private readonly migrations: Migration[]) {}
  getMigrations(): Promise<Migration[]> {
    return Promise.resolve([...this.migrations].sort((a, b) => a.name.localeCompare(b.name)));
  }
  getMigrationName(m: Migration): string {
    return m.name;
  }
  getMigration(m: Migration): Promise<Knex.Migration> {
    return Promise.resolve({ up: (db: Knex) => m.up(db), down: (db: Knex) => m.down(db) });
  }
}

/**
 * Brings a service's schema up to date. On PostgreSQL the schema is created first and the migration
 * bookkeeping tables live inside it, so services never share them.
 */
export async function migrateLatest(db: Knex, migrations: Migration[], schema?: string): Promise<string[]> {
  if (schema && isPostgres(db)) await db.raw('create schema if not exists ??', [schema]);
  const [, applied] = (await db.migrate.latest({
    migrationSource: new CodeMigrationSource(migrations),
    ...(schema && isPostgres(db) ? { schemaName: schema } : {}),
  })) as [number, string[]];
  return applied;
}

export async function migrateRollbackAll(db: Knex, migrations: Migration[], schema?: string): Promise<void> {
  await db.migrate.rollback(
    {
      migrationSource: new CodeMigrationSource(migrations),
      ...(schema && isPostgres(db) ? { schemaName: schema } : {}),
    },
    true,
  );
}
