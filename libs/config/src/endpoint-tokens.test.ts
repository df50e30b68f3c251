import { z } from '@im/contracts';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  internalTokenEnv,
  internalTokenFrom,
  loadOrCreateTokenFile,
  metricsTokenEnv,
  metricsTokenFrom,
  tokenFrom,
} from './endpoint-tokens';
import { ConfigError, parseEnv } from './env';

const TOKEN = 'a'.repeat(16) + '0123456789abcdef';
const parse = (env: Record<string, string>) =>
  parseEnv(z.object({ ...internalTokenEnv, ...metricsTokenEnv }), env);

describe('endpoint tokens', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-tokens-test-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads a token inline or from NAME_FILE (one trailing newline dropped)', () => {
    expect(tokenFrom(TOKEN, undefined, 'X_TOKEN')).toBe(TOKEN);
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, `${TOKEN}\n`);
    expect(tokenFrom(undefined, file, 'X_TOKEN')).toBe(TOKEN);
    expect(tokenFrom(undefined, undefined, 'X_TOKEN')).toBeUndefined();
  });

  it('refuses a short token or one with spaces, naming the variable and never the value', () => {
    for (const bad of ['short', `${TOKEN} ${TOKEN}`, `${TOKEN}\u0000`]) {
      let err: unknown;
      try {
        tokenFrom(bad, undefined, 'METRICS_TOKEN');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain('METRICS_TOKEN');
      expect((err as Error).message).toContain('openssl rand -hex 32');
      expect((err as Error).message).not.toContain(bad);
    }
    expect(() => tokenFrom(undefined, path.join(dir, 'missing'), 'METRICS_TOKEN')).toThrow(
      /METRICS_TOKEN_FILE: cannot be read \(ENOENT\)/,
    );
  });

  it('makes a service behind the gateway refuse to start without the internal token, saying how to make one', () => {
    expect(() => internalTokenFrom(parse({}), 'jobconfig')).toThrow(ConfigError);
    expect(() => internalTokenFrom(parse({}), 'jobconfig')).toThrow(
      /INTERNAL_TOKEN: is required .*openssl rand -hex 32/s,
    );
    expect(internalTokenFrom(parse({ INTERNAL_TOKEN: TOKEN }), 'jobconfig')).toBe(TOKEN);
  });

  it('leaves the metrics token unset when not given (then /metrics is off)', () => {
    expect(metricsTokenFrom(parse({}))).toBeUndefined();
    expect(metricsTokenFrom(parse({ METRICS_TOKEN: TOKEN }))).toBe(TOKEN);
  });

  it('makes a token file once (mode 600, random), then reads it back', () => {
    const file = path.join(dir, 'keys', 'metrics-token');
    const made = loadOrCreateTokenFile(file);
    expect(made.created).toBe(true);
    expect(made.token).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(loadOrCreateTokenFile(file)).toEqual({ token: made.token, created: false });
    expect(loadOrCreateTokenFile(path.join(dir, 'other')).token).not.toBe(made.token);
    fs.writeFileSync(file, 'tiny\n');
    expect(() => loadOrCreateTokenFile(file)).toThrow(/is not a usable token/);
  });
});
