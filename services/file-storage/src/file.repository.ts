import { fetchPage, type Knex, type PageRequest, type PageResult } from '@im/db';

export interface FileRecord {
  jobConfigId: string;
  key: string;
  size: number;
  sha256: string;
  contentType: string;
  createdAt: number;
  updatedAt: number;
}

interface Row {
  job_config_id: string;
  file_key: string;
  size: number | string;
  sha256: string;
  content_type: string;
  created_at: number | string;
  updated_at: number | string;
}

const toRecord = (r: Row): FileRecord => ({
  jobConfigId: r.job_config_id,
  key: r.file_key,
  size: Number(r.size),
  sha256: r.sha256,
  contentType: r.content_type,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

export class FileRepository {
  constructor(private readonly db: Knex) {}

  async find(jobConfigId: string, key: string): Promise<FileRecord | undefined> {
    const row = (await this.db('files').where({ job_config_id: jobConfigId, file_key: key }).first()) as
      Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Inserts or replaces; returns true when the file is new. */
  async upsert(f: Omit<FileRecord, 'createdAt'>): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const existing = (await trx('files')
        .where({ job_config_id: f.jobConfigId, file_key: f.key })
        .first()) as Row | undefined;
      if (existing) {
        await trx('files')
          .where({ job_config_id: f.jobConfigId, file_key: f.key })
          .update({ size: f.size, sha256: f.sha256, content_type: f.contentType, updated_at: f.updatedAt });
        return false;
      }
      await trx('files').insert({
        job_config_id: f.jobConfigId,
        file_key: f.key,
        size: f.size,
        sha256: f.sha256,
        content_type: f.contentType,
        created_at: f.updatedAt,
        updated_at: f.updatedAt,
      });
      return true;
    });
  }

  async delete(jobConfigId: string, key: string): Promise<boolean> {
    return (await this.db('files').where({ job_config_id: jobConfigId, file_key: key }).delete()) > 0;
  }

  async deleteAll(jobConfigId: string): Promise<number> {
    return this.db('files').where({ job_config_id: jobConfigId }).delete();
  }

  async page(jobConfigId: string, req: PageRequest): Promise<PageResult<FileRecord>> {
    const res = await fetchPage<Row>(
      this.db('files').select('*').where({ job_config_id: jobConfigId }),
      req,
      { name: 'file_key', size: 'size', lastModified: 'updated_at', created: 'created_at' },
      'file_key',
    );
    return { rows: res.rows.map(toRecord), total: res.total };
  }
}
