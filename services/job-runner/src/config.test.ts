import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from './config';

describe('loadConfig', () => {
  const base = {
    KAFKA_BROKERS: 'k1:9092, k2:9092',
    S3_BUCKET: 'bucket',
    S3_ACCESS_KEY_ID: 'id',
    S3_SECRET_ACCESS_KEY: 'secret',
  };

  it('applies the defaults', () => {
    const c = loadConfig(base);
    expect(c.kafka).toMatchObject({
      brokers: ['k1:9092', 'k2:9092'],
      topicPrefix: 'im.',
      clientId: `job-runner-${c.runner.id}`,
    });
    expect(c.runner).toMatchObject({
      slots: 2,
      graceMs: 20_000,
      workDir: path.join(os.tmpdir(), 'im-runner'),
      unpackLimits: { maxBytes: 1024 ** 3, maxEntries: 10_000 },
    });
    expect(c.runner.id).toBe(`${os.hostname()}-${process.pid}`);
    expect(c.s3).toMatchObject({
      bucket: 'bucket',
      region: 'us-east-1',
      forcePathStyle: true,
      keyPrefix: '',
    });
    expect(c.http.port).toBe(8085);
  });

  it('lists every wrong variable at once', () => {
    expect(() => loadConfig({ RUNNER_SLOTS: '0' })).toThrow(
      /KAFKA_BROKERS[\s\S]*S3_BUCKET[\s\S]*RUNNER_SLOTS|RUNNER_SLOTS[\s\S]*KAFKA_BROKERS/,
    );
  });
});
