import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from './config';

describe('loadConfig', () => {
  const base = {
    KAFKA_BROKERS: 'k1:9092, k2:9092',
    S3_BUCKET: 'bucket',
    S3_ACCESS_KEY_ID: 'id',
    S3_SECRET_ACCESS_KEY: 'secret',
    SECRETS_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  };

  it('needs the secrets keyring, and says how to make one', () => {
    expect(loadConfig(base).secrets.primaryKid).toBe('k1');
    const { SECRETS_ENCRYPTION_KEYS: _unset, ...without } = base;
    expect(() => loadConfig(without)).toThrow(
      /SECRETS_ENCRYPTION_KEYS: is required .*openssl rand -base64 32/,
    );
    expect(() => loadConfig({ ...base, SECRETS_ENCRYPTION_KEYS: 'k1:dG9vIHNob3J0' })).toThrow(
      /SECRETS_ENCRYPTION_KEYS: key "k1" must be 32 bytes/,
    );
  });

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
      killGraceMs: 3_000,
      sandbox: true,
      memoryMb: 512,
      packageCacheBytes: 1024 * 1024 * 1024,
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

  it('takes JOBS_CONCURRENCY, or RUNNER_SLOTS as its older name, but not two different values', () => {
    expect(loadConfig({ ...base, JOBS_CONCURRENCY: '5' }).runner.slots).toBe(5);
    expect(loadConfig({ ...base, RUNNER_SLOTS: '3' }).runner.slots).toBe(3);
    expect(loadConfig({ ...base, RUNNER_SLOTS: '4', JOBS_CONCURRENCY: '4' }).runner.slots).toBe(4);
    expect(() => loadConfig({ ...base, RUNNER_SLOTS: '3', JOBS_CONCURRENCY: '4' })).toThrow(
      /RUNNER_SLOTS: differs from JOBS_CONCURRENCY \(4\)/,
    );
    expect(() => loadConfig({ ...base, JOBS_CONCURRENCY: '0' })).toThrow(/JOBS_CONCURRENCY/);
  });

  it('reads the sandbox, memory, cache and kill-grace settings', () => {
    expect(
      loadConfig({
        ...base,
        JOBS_SANDBOX: 'false',
        JOBS_MEMORY_MB: '1024',
        JOBS_PACKAGE_CACHE_MB: '0',
        RUNNER_KILL_GRACE_MS: '1500',
      }).runner,
    ).toMatchObject({ sandbox: false, memoryMb: 1024, packageCacheBytes: 0, killGraceMs: 1500 });
    expect(() => loadConfig({ ...base, JOBS_SANDBOX: 'maybe' })).toThrow(/JOBS_SANDBOX/);
    expect(() => loadConfig({ ...base, JOBS_MEMORY_MB: '8' })).toThrow(/JOBS_MEMORY_MB/);
    expect(() => loadConfig({ ...base, RUNNER_KILL_GRACE_MS: '5000' })).toThrow(
      /RUNNER_KILL_GRACE_MS: must be at most 3000/,
    );
  });

  it('lists every wrong variable at once', () => {
    expect(() => loadConfig({ RUNNER_SLOTS: '0' })).toThrow(
      /KAFKA_BROKERS[\s\S]*S3_BUCKET[\s\S]*RUNNER_SLOTS|RUNNER_SLOTS[\s\S]*KAFKA_BROKERS/,
    );
  });
});
