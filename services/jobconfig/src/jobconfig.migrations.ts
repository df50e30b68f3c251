import type { Migration } from '@im/db';

/** The jobconfig service's schema: configurations and their jobs. Times are epoch milliseconds. */
export const jobconfigMigrations: Migration[] = [
  {
    name: '20261128_0001_create_job_configs',
    // Why: a configuration is what users create, share by id, and run; its owner decides who sees it.
    async up(db) {
      await db.schema.createTable('job_configs', (t) => {
        t.increments('id').primary();
        t.string('owner_id', 32).notNullable();
        t.string('owner_name', 64).notNullable();
        t.string('name', 255).notNullable();
        t.text('description').nullable();
        t.boolean('active').notNullable().defaultTo(true);
        t.string('package_name', 255).nullable();
        t.string('entry_point', 1024).nullable();
        t.boolean('package_artifact_override').notNullable().defaultTo(false);
        t.string('log_level', 16).notNullable().defaultTo('INFO');
        t.text('macros').notNullable().defaultTo('[]');
        t.integer('timeout_minutes').notNullable().defaultTo(0);
        t.boolean('blocking').notNullable().defaultTo(false);
        t.string('schedule', 255).nullable();
        t.text('tags').notNullable().defaultTo('[]');
        t.bigInteger('created_at').notNullable();
        t.string('created_by_id', 32).notNullable();
        t.string('created_by_name', 64).notNullable();
        t.bigInteger('updated_at').notNullable();
        t.string('updated_by_id', 32).notNullable();
        t.string('updated_by_name', 64).notNullable();
        t.index(['owner_id']);
      });
    },
    async down(db) {
      await db.schema.dropTable('job_configs');
    },
  },
  {
    name: '20261128_0002_create_jobs',
    // Why: jobs are the state machine's rows; `event_seq` numbers the public status events per job.
    async up(db) {
      await db.schema.createTable('jobs', (t) => {
        // `seq` orders submissions exactly (several jobs can share a millisecond); `id` is the public UUID.
        t.increments('seq').primary();
        t.string('id', 36).notNullable().unique();
        t.integer('job_config_id').notNullable();
        t.string('job_config_name', 255).notNullable();
        t.string('owner_id', 32).notNullable();
        t.string('status', 16).notNullable();
        t.string('reason', 64).nullable();
        t.integer('attempt').notNullable().defaultTo(1);
        t.integer('return_code').nullable();
        t.string('current_step', 255).nullable();
        t.string('package_name', 255).notNullable();
        t.string('entry_point', 1024).notNullable();
        t.boolean('package_artifact_override').notNullable().defaultTo(false);
        t.string('log_level', 16).notNullable();
        t.integer('timeout_minutes').notNullable().defaultTo(0);
        t.text('run_macros').notNullable().defaultTo('[]');
        t.text('tags').notNullable().defaultTo('[]');
        t.string('submitted_by_id', 32).notNullable();
        t.string('submitted_by_name', 64).notNullable();
        t.string('stopped_by_id', 32).nullable();
        t.string('stopped_by_name', 64).nullable();
        t.bigInteger('scheduled_at').notNullable();
        t.bigInteger('started_at').nullable();
        t.bigInteger('finished_at').nullable();
        t.integer('event_seq').notNullable().defaultTo(0);
        t.bigInteger('updated_at').notNullable();
        t.index(['job_config_id', 'scheduled_at']);
        t.index(['status']);
        t.index(['owner_id', 'scheduled_at']);
      });
    },
    async down(db) {
      await db.schema.dropTable('jobs');
    },
  },
  {
    name: '20261128_0003_create_outbox',
    // Why: events and requests are written in the transaction of the change they announce and
    // published by the relay after it commits (ADR 0008): none is lost, none is early.
    async up(db) {
      await db.schema.createTable('outbox', (t) => {
        t.bigIncrements('id').primary();
        t.string('topic', 64).notNullable();
        t.text('payload').notNullable();
        t.text('headers').notNullable().defaultTo('{}');
        t.bigInteger('created_at').notNullable();
      });
    },
    async down(db) {
      await db.schema.dropTable('outbox');
    },
  },
  {
    name: '20261128_0004_job_leases',
    // Why: a runner holds an attempt under a lease it renews by heartbeat; a lease that runs out
    // re-queues the job (up to max_attempts) or fails it `runner-lost` (ADR 0009).
    async up(db) {
      await db.schema.alterTable('jobs', (t) => {
        t.string('runner_id', 255).nullable();
        t.bigInteger('lease_expires_at').nullable();
        t.integer('max_attempts').notNullable().defaultTo(1);
        // Attempts handed back by a runner shutting down: they do not count against max_attempts.
        t.integer('handovers').notNullable().defaultTo(0);
        t.index(['status', 'lease_expires_at']);
      });
      await db.schema.alterTable('job_configs', (t) => {
        t.integer('max_attempts').notNullable().defaultTo(1);
      });
    },
    async down(db) {
      await db.schema.alterTable('jobs', (t) => {
        t.dropIndex(['status', 'lease_expires_at']);
        t.dropColumn('runner_id');
        t.dropColumn('lease_expires_at');
        t.dropColumn('max_attempts');
        t.dropColumn('handovers');
      });
      await db.schema.alterTable('job_configs', (t) => {
        t.dropColumn('max_attempts');
      });
    },
  },
  {
    name: '20261128_0005_create_schedules',
    // Why: a configuration's schedule (ADR 0010). `next_fire_at` is the tick every replica's scheduler
    // claims with a compare-and-set, so each tick submits exactly one job; the schedule goes with its
    // configuration.
    async up(db) {
      await db.schema.createTable('schedules', (t) => {
        t.integer('job_config_id').primary().references('id').inTable('job_configs').onDelete('CASCADE');
        t.string('name', 255).nullable();
        t.text('description').nullable();
        t.string('type', 16).notNullable();
        t.string('cron', 255).nullable();
        t.bigInteger('interval_ms').nullable();
        t.string('time_zone', 64).notNullable().defaultTo('UTC');
        t.string('misfire_policy', 16).notNullable().defaultTo('fire-once');
        t.bigInteger('next_fire_at').nullable();
        t.bigInteger('created_at').notNullable();
        t.bigInteger('updated_at').notNullable();
        t.index(['next_fire_at']);
      });
    },
    async down(db) {
      await db.schema.dropTable('schedules');
    },
  },
  {
    name: '20261128_0006_accounts',
    // Why: nothing crosses accounts (tenants): configurations and jobs carry their owner's account, set
    // once at creation; rows from before accounts belong to the default account '1'. `user_states` is
    // the projection of auth's user.changes: a deactivated user's runs and tokens are refused here.
    async up(db) {
      await db.schema.alterTable('job_configs', (t) => {
        t.string('account_id', 32).notNullable().defaultTo('1');
        t.index(['account_id', 'owner_id']);
      });
      await db.schema.alterTable('jobs', (t) => {
        t.string('account_id', 32).notNullable().defaultTo('1');
        t.index(['account_id', 'scheduled_at']);
      });
      await db.schema.createTable('user_states', (t) => {
        t.string('user_id', 32).primary();
        t.string('account_id', 32).notNullable();
        t.boolean('active').notNullable();
        t.bigInteger('updated_at').notNullable();
      });
    },
    async down(db) {
      await db.schema.dropTable('user_states');
      await db.schema.alterTable('jobs', (t) => {
        t.dropIndex(['account_id', 'scheduled_at']);
        t.dropColumn('account_id');
      });
      await db.schema.alterTable('job_configs', (t) => {
        t.dropIndex(['account_id', 'owner_id']);
        t.dropColumn('account_id');
      });
    },
  },
  {
    name: '20261128_0007_secrets_sealed',
    // Why: jobconfig brings stored secure values to the keyring's first key at every start (ADR 0012).
    // Jobs are many and their run macros are written once, at submission: this remembers, per keyring,
    // up to which job (`jobs.seq`) that was done, so a start reads only the jobs submitted since.
    async up(db) {
      await db.schema.createTable('secrets_sealed', (t) => {
        // sha256 of the keyring's key ids and key fingerprints, in order (never the keys).
        t.string('keyring', 64).primary();
        t.bigInteger('jobs_seq').notNullable();
        t.bigInteger('sealed_at').notNullable();
      });
    },
    async down(db) {
      await db.schema.dropTable('secrets_sealed');
    },
  },
  {
    name: '20261128_0008_job_package_sha256',
    // Why: GET /api/jobs/{id}/package answers the exact package a job ran, even after the
    // configuration's package was replaced: the runner keeps those bytes by their sha256 and reports it.
    async up(db) {
      await db.schema.alterTable('jobs', (t) => {
        t.string('package_sha256', 64).nullable();
      });
    },
    async down(db) {
      await db.schema.alterTable('jobs', (t) => {
        t.dropColumn('package_sha256');
      });
    },
  },
  {
    name: '20261129_0001_user_state_roles',
    // Why: a demoted admin's still-valid token must lose the role here too (issue #13): the projection
    // of user.changes keeps the user's current roles. Null (rows from before): not known, the token's
    // roles stand until the user's next change.
    async up(db) {
      await db.schema.alterTable('user_states', (t) => {
        t.string('roles', 255).nullable();
      });
    },
    async down(db) {
      await db.schema.alterTable('user_states', (t) => {
        t.dropColumn('roles');
      });
    },
  },
];
