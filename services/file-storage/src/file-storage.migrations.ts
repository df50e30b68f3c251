import type { Migration } from '@im/db';

/** The file-storage service's schema: metadata of the files attached to configurations (bytes are in object storage). */
export const fileStorageMigrations: Migration[] = [
  {
    name: '20261128_0001_create_files',
    // Why: listing and metadata must not walk object storage; sha256 is computed while streaming.
    async up(db) {
      await db.schema.createTable('files', (t) => {
        t.string('job_config_id', 32).notNullable();
        t.string('file_key', 255).notNullable();
        t.bigInteger('size').notNullable();
        t.string('sha256', 64).notNullable();
        t.string('content_type', 255).notNullable();
        t.bigInteger('created_at').notNullable();
        t.bigInteger('updated_at').notNullable();
        t.primary(['job_config_id', 'file_key']);
      });
    },
    async down(db) {
      await db.schema.dropTable('files');
    },
  },
];
