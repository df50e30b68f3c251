import { z } from '@im/contracts';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  httpEnv,
  jwtVerifyEnv,
  kafkaEnv,
  kafkaOptions,
  pemFrom,
  pemsFrom,
  s3Env,
  s3Options,
  tokenVerificationFrom,
} from './common-env';
import { ConfigError, parseEnv } from './env';

const PEM = '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n';

describe('pemFrom', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-config-test-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('turns literal \\n of an inline value into newlines', () => {
    const inline = PEM.replace(/\n/g, '\\n');
    expect(inline).not.toContain('\n');
    expect(pemFrom(inline, undefined, 'AUTH_JWT_PUBLIC_KEY')).toBe(PEM);
  });

  it('keeps an inline value that already has real newlines', () => {
    expect(pemFrom(PEM, undefined, 'AUTH_JWT_PUBLIC_KEY')).toBe(PEM);
  });

  it('prefers the inline value over the file', () => {
    const file = path.join(dir, 'other.pem');
    fs.writeFileSync(file, 'FROM FILE');
    expect(pemFrom(PEM, file, 'AUTH_JWT_PUBLIC_KEY')).toBe(PEM);
    // Not even read: a missing file does not matter when the inline value is set.
    expect(pemFrom(PEM, path.join(dir, 'missing.pem'), 'AUTH_JWT_PUBLIC_KEY')).toBe(PEM);
  });

  it('reads the _FILE value from disk when there is no inline value', () => {
    const file = path.join(dir, 'key.pem');
    fs.writeFileSync(file, PEM);
    expect(pemFrom(undefined, file, 'AUTH_JWT_PUBLIC_KEY')).toBe(PEM);
    expect(pemFrom('', file, 'AUTH_JWT_PUBLIC_KEY')).toBe(PEM);
  });

  it('names both variables when neither is set', () => {
    expect(() => pemFrom(undefined, undefined, 'AUTH_JWT_PUBLIC_KEY')).toThrow(
      'Set AUTH_JWT_PUBLIC_KEY (the PEM) or AUTH_JWT_PUBLIC_KEY_FILE (a file holding it).',
    );
    expect(() => pemFrom('', '', 'AUTH_JWT_PRIVATE_KEY')).toThrow(/AUTH_JWT_PRIVATE_KEY_FILE/);
  });

  it('works with the env schema of the public key', () => {
    const file = path.join(dir, 'pub.pem');
    fs.writeFileSync(file, PEM);
    const env = parseEnv(z.object(jwtVerifyEnv), { AUTH_JWT_PUBLIC_KEY_FILE: file });
    expect(pemFrom(env.AUTH_JWT_PUBLIC_KEY, env.AUTH_JWT_PUBLIC_KEY_FILE, 'AUTH_JWT_PUBLIC_KEY')).toBe(PEM);
  });
});

describe('token verification env', () => {
  const parse = (env: Record<string, string>) => parseEnv(z.object(jwtVerifyEnv), env);

  it('prefers the JWKS URL, with RS256, 30 s of clock tolerance and a 10-minute key cache by default', () => {
    expect(
      tokenVerificationFrom(
        parse({ AUTH_JWKS_URL: 'http://auth:8081/api/.well-known/jwks.json', AUTH_JWT_PUBLIC_KEY: PEM }),
      ),
    ).toEqual({
      jwksUrl: 'http://auth:8081/api/.well-known/jwks.json',
      algorithm: 'RS256',
      clockToleranceSeconds: 30,
      cacheMaxAgeMs: 600_000,
    });
  });

  it('takes a fixed public key when there is no JWKS URL, and asks for one of them when neither is set', () => {
    expect(
      tokenVerificationFrom(parse({ AUTH_JWT_PUBLIC_KEY: PEM, AUTH_JWT_ALGORITHM: 'ES256' })),
    ).toMatchObject({
      publicKeys: [PEM],
      algorithm: 'ES256',
    });
    expect(() => tokenVerificationFrom(parse({}))).toThrow(/AUTH_JWKS_URL: is required/);
    expect(() => parse({ AUTH_JWT_ALGORITHM: 'HS256' })).toThrow(ConfigError);
    expect(() => parse({ AUTH_JWT_ALGORITHM: 'none' })).toThrow(ConfigError);
    expect(() => parse({ AUTH_JWT_CLOCK_TOLERANCE_SECONDS: '3600' })).toThrow(
      /AUTH_JWT_CLOCK_TOLERANCE_SECONDS/,
    );
  });

  it('reads several PEMs from one value or file, and none when unset', () => {
    expect(pemsFrom(undefined, undefined)).toEqual([]);
    expect(pemsFrom(`${PEM}${PEM}`.replace(/\n/g, '\\n'), undefined)).toEqual([PEM, PEM]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-config-test-'));
    fs.writeFileSync(path.join(dir, 'prev.pem'), `# old key\n${PEM}\n${PEM}`);
    expect(pemsFrom(undefined, path.join(dir, 'prev.pem'))).toEqual([PEM, PEM]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('httpEnv', () => {
  it('applies the service default port and the shared defaults', () => {
    expect(parseEnv(z.object(httpEnv(8081)), {})).toEqual({
      HTTP_PORT: 8081,
      HTTP_HOST: '0.0.0.0',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: 25_000,
    });
  });

  it('rejects a public base URL that is not a URL', () => {
    expect(() => parseEnv(z.object(httpEnv(8081)), { HTTP_PUBLIC_BASE_URL: 'im.example.com' })).toThrow(
      /HTTP_PUBLIC_BASE_URL/,
    );
  });
});

describe('kafkaOptions', () => {
  const kafka = (env: NodeJS.ProcessEnv) => kafkaOptions(parseEnv(z.object(kafkaEnv), env), 'gateway');

  it('splits and trims the broker list and applies defaults', () => {
    expect(kafka({ KAFKA_BROKERS: 'k1:9092, k2:9092 ,k3:9092' })).toEqual({
      brokers: ['k1:9092', 'k2:9092', 'k3:9092'],
      clientId: 'gateway',
      topicPrefix: 'im.',
      ssl: false,
    });
  });

  it('uses KAFKA_CLIENT_ID, KAFKA_TOPIC_PREFIX and KAFKA_SSL when set', () => {
    expect(
      kafka({
        KAFKA_BROKERS: 'k1:9093',
        KAFKA_CLIENT_ID: 'custom',
        KAFKA_TOPIC_PREFIX: 'prod.',
        KAFKA_SSL: 'true',
      }),
    ).toEqual({ brokers: ['k1:9093'], clientId: 'custom', topicPrefix: 'prod.', ssl: true });
  });

  it('adds SASL when mechanism, user name and password are all set', () => {
    const o = kafka({
      KAFKA_BROKERS: 'k1:9092',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 's3cret',
    });
    expect(o).toMatchObject({ sasl: { mechanism: 'scram-sha-512', username: 'svc', password: 's3cret' } });
  });

  it('reads the password from KAFKA_SASL_PASSWORD_FILE without its final newline', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-sasl-'));
    const file = path.join(dir, 'password');
    fs.writeFileSync(file, 'from-file\n');
    try {
      const o = kafka({
        KAFKA_BROKERS: 'k1:9092',
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'svc',
        KAFKA_SASL_PASSWORD_FILE: file,
      });
      expect(o).toMatchObject({
        sasl: { mechanism: 'scram-sha-512', username: 'svc', password: 'from-file' },
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [
      'no mechanism',
      { KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'p' },
      'KAFKA_SASL_MECHANISM: is required',
    ],
    [
      'no user name',
      { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'p' },
      'KAFKA_SASL_USERNAME: is required',
    ],
    [
      'no password',
      { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'svc' },
      'KAFKA_SASL_PASSWORD: is required',
    ],
    [
      'a password twice',
      {
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: 'svc',
        KAFKA_SASL_PASSWORD: 'p',
        KAFKA_SASL_PASSWORD_FILE: '/x',
      },
      'KAFKA_SASL_PASSWORD_FILE: set either',
    ],
    [
      'an unreadable password file',
      {
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: 'svc',
        KAFKA_SASL_PASSWORD_FILE: '/nonexistent/pw',
      },
      'KAFKA_SASL_PASSWORD_FILE: cannot read /nonexistent/pw (ENOENT)',
    ],
  ])('refuses half a SASL configuration (%s) instead of connecting without SASL', (_label, sasl, message) => {
    let caught: unknown;
    try {
      kafka({ KAFKA_BROKERS: 'k1:9092', ...sasl });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).message).toContain(`  ${message}`);
    expect((caught as Error).message).not.toContain("'p'");
  });

  it('refuses a missing broker list and an unknown SASL mechanism in one error', () => {
    let caught: unknown;
    try {
      kafka({ KAFKA_SASL_MECHANISM: 'kerberos' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).message).toMatch(/^ {2}KAFKA_BROKERS: /m);
    expect((caught as Error).message).toMatch(/^ {2}KAFKA_SASL_MECHANISM: /m);
  });

  it('says an unset required variable is required', () => {
    expect(() => kafka({})).toThrow(/^ {2}KAFKA_BROKERS: is required$/m);
  });

  it('explains the format of an empty broker list', () => {
    expect(() => kafka({ KAFKA_BROKERS: '' })).toThrow('KAFKA_BROKERS: is required (host:port,host:port)');
  });
});

describe('s3Options', () => {
  const required = { S3_BUCKET: 'im-bucket', S3_ACCESS_KEY_ID: 'AKIA', S3_SECRET_ACCESS_KEY: 'secret' };
  const s3 = (env: NodeJS.ProcessEnv) => s3Options(parseEnv(z.object(s3Env), env));

  it('maps the env with defaults and without an endpoint for AWS', () => {
    const o = s3(required);
    expect(o).toEqual({
      region: 'us-east-1',
      bucket: 'im-bucket',
      accessKeyId: 'AKIA',
      secretAccessKey: 'secret',
      forcePathStyle: true,
      keyPrefix: '',
    });
    expect(o).not.toHaveProperty('endpoint');
  });

  it('maps endpoint, region, path style and key prefix when set', () => {
    expect(
      s3({
        ...required,
        S3_ENDPOINT: 'http://minio:9000',
        S3_REGION: 'eu-central-1',
        S3_FORCE_PATH_STYLE: 'no',
        S3_KEY_PREFIX: 'tenant-a/im/',
      }),
    ).toEqual({
      endpoint: 'http://minio:9000',
      region: 'eu-central-1',
      bucket: 'im-bucket',
      accessKeyId: 'AKIA',
      secretAccessKey: 'secret',
      forcePathStyle: false,
      keyPrefix: 'tenant-a/im/',
    });
  });

  it('says an empty bucket or credential is required', () => {
    expect(() => s3({ S3_BUCKET: '', S3_ACCESS_KEY_ID: '', S3_SECRET_ACCESS_KEY: '' })).toThrow(
      /S3_BUCKET: is required\n {2}S3_ACCESS_KEY_ID: is required\n {2}S3_SECRET_ACCESS_KEY: is required/,
    );
  });

  it('names every missing credential and a key prefix without a trailing slash', () => {
    let caught: unknown;
    try {
      s3({ S3_KEY_PREFIX: 'tenant-a' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as Error).message;
    for (const name of ['S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'])
      expect(message).toContain(name);
    expect(message).toContain('S3_KEY_PREFIX: must be empty or end with /');
  });
});
