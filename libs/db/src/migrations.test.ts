import { createDb, type Knex } from './knex-factory';
import { migrateLatest, migrateRollbackAll, type Migration } from './migrations';

describe('migrations on SQLite', () => {
  let db: Knex;
  let log: string[];
  let migrations: Migration[];

  beforeEach(() => {
    db = createDb({ client: 'sqlite', filename: ':memory:' });
    log = [];
    const createUsers: Migration = {
      name: '20260101_0001_create_users',
      up: async (k) => {
        log.push('up 0001');
        await k.schema.createTable('users', (t) => {
          t.increments('id');
          t.string('username').notNullable();
        });
      },
      down: async (k) => {
        log.push('down 0001');
        await k.schema.dropTable('users');
      },
    };
    const addEmail: Migration = {
      name: '20260101_0002_add_email',
      up: async (k) => {
        log.push('up 0002');
        // Fails unless 0001 ran first.
        await k.schema.alterTable('users', (t) => t.string('email'));
      },
      down: async (k) => {
        log.push('down 0002');
        await k.schema.alterTable('users', (t) => t.dropColumn('email'));
      },
    };
    const createJobs: Migration = {
      name: '20260215_0001_create_jobs',
      up: async (k) => {
        log.push('up jobs');
        await k.schema.createTable('jobs', (t) => {
          t.increments('id');
          t.integer('user_id').references('id').inTable('users');
        });
      },
      down: async (k) => {
        log.push('down jobs');
        await k.schema.dropTable('jobs');
      },
    };
    // Deliberately out of order: the name decides the order, not the array.
    migrations = [createJobs, addEmail, createUsers];
  });

  afterEach(async () => {
    await db.destroy();
  });

  it('applies code migrations in name order and returns their names', async () => {
    const applied = await migrateLatest(db, migrations);

    expect(applied).toEqual([
      '20260101_0001_create_users',
      '20260101_0002_add_email',
      '20260215_0001_create_jobs',
    ]);
    expect(log).toEqual(['up 0001', 'up 0002', 'up jobs']);
    expect(await db.schema.hasColumn('users', 'email')).toBe(true);
    expect(await db.schema.hasTable('jobs')).toBe(true);
  });

  it('is idempotent: a second run applies nothing and keeps the data', async () => {
    await migrateLatest(db, migrations);
    await db('users').insert({ username: 'ada', email: 'ada@example.com' });
    log.length = 0;

    expect(await migrateLatest(db, migrations)).toEqual([]);
    expect(log).toEqual([]);
    expect(await db('users').select('username')).toEqual([{ username: 'ada' }]);
  });

  it('applies only the migrations added since the last run', async () => {
    const [jobs, ...firstRelease] = migrations;
    await migrateLatest(db, firstRelease);
    log.length = 0;

    expect(await migrateLatest(db, [jobs!, ...firstRelease])).toEqual(['20260215_0001_create_jobs']);
    expect(log).toEqual(['up jobs']);
  });

  it('rolls every migration back in reverse order', async () => {
    await migrateLatest(db, migrations);
    log.length = 0;

    await migrateRollbackAll(db, migrations);

    expect(log).toEqual(['down jobs', 'down 0002', 'down 0001']);
    expect(await db.schema.hasTable('users')).toBe(false);
    expect(await db.schema.hasTable('jobs')).toBe(false);
  });

  it('rolls back every batch, not only the last one', async () => {
    const [jobs, ...firstRelease] = migrations;
    await migrateLatest(db, firstRelease);
    await migrateLatest(db, [jobs!, ...firstRelease]);
    log.length = 0;

    await migrateRollbackAll(db, migrations);

    expect(log).toEqual(['down jobs', 'down 0002', 'down 0001']);
    expect(await db.schema.hasTable('users')).toBe(false);
    // And the schema can be built again from scratch.
    expect(await migrateLatest(db, migrations)).toHaveLength(3);
  });
});
