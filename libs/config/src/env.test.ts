import { z } from '@im/contracts';
import { ConfigError, envBoolean, envBytes, envInt, envPort, LogLevelEnv, parseEnv } from './env';

describe('parseEnv', () => {
  const schema = z.object({
    HTTP_PORT: envPort(8080),
    FEATURE_ON: envBoolean(false),
    MAX_UPLOAD: envBytes(1024),
    LOG_LEVEL: LogLevelEnv,
    RETRIES: envInt(3, 1),
  });

  it('applies defaults when variables are unset', () => {
    expect(parseEnv(schema, {})).toEqual({
      HTTP_PORT: 8080,
      FEATURE_ON: false,
      MAX_UPLOAD: 1024,
      LOG_LEVEL: 'info',
      RETRIES: 3,
    });
  });

  it('coerces the strings of the environment into typed values', () => {
    expect(
      parseEnv(schema, {
        HTTP_PORT: '9000',
        FEATURE_ON: 'yes',
        MAX_UPLOAD: '2kb',
        LOG_LEVEL: 'debug',
        RETRIES: '5',
      }),
    ).toEqual({ HTTP_PORT: 9000, FEATURE_ON: true, MAX_UPLOAD: 2048, LOG_LEVEL: 'debug', RETRIES: 5 });
  });

  it('names every wrong variable in one ConfigError', () => {
    let caught: unknown;
    try {
      parseEnv(schema, { HTTP_PORT: '70000', FEATURE_ON: 'maybe', LOG_LEVEL: 'loud' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const err = caught as ConfigError;
    expect(err.name).toBe('ConfigError');
    expect(err.message).toMatch(/^Invalid configuration; fix these environment variables:/);
    expect(err.message).toMatch(/^ {2}HTTP_PORT: /m);
    expect(err.message).toMatch(/^ {2}FEATURE_ON: /m);
    expect(err.message).toMatch(/^ {2}LOG_LEVEL: /m);
    // Variables that are fine are not blamed.
    expect(err.message).not.toContain('MAX_UPLOAD');
    expect(err.message).not.toContain('RETRIES');
  });

  it('reports a value below the minimum of envInt', () => {
    expect(() => parseEnv(schema, { RETRIES: '0' })).toThrow(/RETRIES: /);
  });
});

describe('envBytes', () => {
  const bytes = envBytes(42);
  const parse = (v: string | undefined) => bytes.parse(v);

  it.each([
    ['104857600', 104_857_600],
    ['100mb', 100 * 1024 ** 2],
    ['2GiB', 2 * 1024 ** 3],
    ['512k', 512 * 1024],
    ['10b', 10],
    [' 3 MB ', 3 * 1024 ** 2],
    ['1t', 1024 ** 4],
  ])('parses %j as %d bytes', (text, expected) => {
    expect(parse(text)).toBe(expected);
  });

  it('falls back to the default when unset or empty', () => {
    expect(parse(undefined)).toBe(42);
    expect(parse('')).toBe(42);
  });

  it.each(['lots', '-5', '1.5gb', '10 pb', 'mb'])('rejects %j with a hint', (text) => {
    const r = bytes.safeParse(text);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe('must be a size such as 104857600, 100mb or 2GiB');
  });
});

describe('envBoolean', () => {
  it.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ])('reads %j as %s', (text, expected) => {
    // The opposite default proves the value, not the default, decided.
    expect(envBoolean(!expected).parse(text)).toBe(expected);
  });

  it('uses the default when unset', () => {
    expect(envBoolean(true).parse(undefined)).toBe(true);
    expect(envBoolean(false).parse(undefined)).toBe(false);
  });

  it.each(['maybe', '2', 'on', ''])('rejects %j', (text) => {
    expect(envBoolean(false).safeParse(text).success).toBe(false);
  });
});

describe('envPort', () => {
  it('accepts 0..65535 and rejects the rest', () => {
    expect(envPort(1).parse('65535')).toBe(65535);
    expect(envPort(1).parse(undefined)).toBe(1);
    expect(envPort(1).safeParse('65536').success).toBe(false);
    expect(envPort(1).safeParse('80.5').success).toBe(false);
    expect(envPort(1).safeParse('http').success).toBe(false);
  });
});
