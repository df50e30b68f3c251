import { z } from '@im/contracts';
import type { DbConfig } from './knex-factory';

/** Env of a service that owns a database: `DB_CLIENT`, then `DB_URL`+`DB_SCHEMA` or `DB_SQLITE_FILE`. */
export function dbEnvSchema(defaultSchema: string) {
  return z.object({
    /** postgres (production) or sqlite (single process, embedded). */
    DB_CLIENT: z.enum(['postgres', 'sqlite']).default('postgres'),
    /** postgres://user:password@host:5432/database */
    DB_URL: z.string().optional(),
    /** The service's own schema in that database. */
    DB_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .default(defaultSchema),
    /** Connection pool size per process. */
    DB_POOL_MAX: z.coerce.number().int().min(1).max(100).default(10),
    /** Path of the SQLite file when DB_CLIENT=sqlite. */
    DB_SQLITE_FILE: z.string().optional(),
  });
}

export function toDbConfig(env: z.infer<ReturnType<typeof dbEnvSchema>>): DbConfig {
  if (env.DB_CLIENT === 'sqlite') {
    if (!env.DB_SQLITE_FILE) throw new Error('DB_SQLITE_FILE is required when DB_CLIENT=sqlite.');
    return { client: 'sqlite', filename: env.DB_SQLITE_FILE };
  }
  if (!env.DB_URL)
    throw new Error('DB_URL is required when DB_CLIENT=postgres (postgres://user:password@host:5432/db).');
  return { client: 'postgres', url: env.DB_URL, schema: env.DB_SCHEMA, poolMax: env.DB_POOL_MAX };
}
