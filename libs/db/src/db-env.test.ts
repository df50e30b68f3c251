import { dbEnvSchema, toDbConfig } from './db-env';

const parse = (env: NodeJS.ProcessEnv) => dbEnvSchema('jobconfig').parse(env);

describe('toDbConfig', () => {
  it('builds a PostgreSQL config with the default schema and pool size', () => {
    expect(toDbConfig(parse({ DB_URL: 'postgres://u:p@db:5432/im' }))).toEqual({
      client: 'postgres',
      url: 'postgres://u:p@db:5432/im',
      schema: 'jobconfig',
      poolMax: 10,
    });
  });

  it('takes DB_SCHEMA and DB_POOL_MAX from the environment', () => {
    expect(
      toDbConfig(
        parse({
          DB_CLIENT: 'postgres',
          DB_URL: 'postgres://db/im',
          DB_SCHEMA: 'tenant_a',
          DB_POOL_MAX: '25',
        }),
      ),
    ).toEqual({ client: 'postgres', url: 'postgres://db/im', schema: 'tenant_a', poolMax: 25 });
  });

  it('requires DB_URL for PostgreSQL, the default client', () => {
    expect(() => toDbConfig(parse({}))).toThrow(
      'DB_URL is required when DB_CLIENT=postgres (postgres://user:password@host:5432/db).',
    );
    expect(() => toDbConfig(parse({ DB_CLIENT: 'postgres', DB_URL: '' }))).toThrow(/DB_URL is required/);
  });

  it('builds a SQLite config from DB_SQLITE_FILE, ignoring DB_URL', () => {
    expect(
      toDbConfig(parse({ DB_CLIENT: 'sqlite', DB_SQLITE_FILE: '/data/im.db', DB_URL: 'postgres://x' })),
    ).toEqual({ client: 'sqlite', filename: '/data/im.db' });
  });

  it('requires DB_SQLITE_FILE for SQLite', () => {
    expect(() => toDbConfig(parse({ DB_CLIENT: 'sqlite', DB_URL: 'postgres://db/im' }))).toThrow(
      'DB_SQLITE_FILE is required when DB_CLIENT=sqlite.',
    );
  });
});

describe('dbEnvSchema', () => {
  it.each([
    ['DB_CLIENT', { DB_CLIENT: 'mysql' }],
    ['DB_SCHEMA', { DB_SCHEMA: 'Bad-Schema' }],
    ['DB_SCHEMA', { DB_SCHEMA: '1abc' }],
    ['DB_POOL_MAX', { DB_POOL_MAX: '0' }],
    ['DB_POOL_MAX', { DB_POOL_MAX: '101' }],
  ])('rejects a bad %s', (name, env) => {
    const r = dbEnvSchema('svc').safeParse(env);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toEqual([name]);
  });
});
