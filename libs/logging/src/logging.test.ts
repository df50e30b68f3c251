import { createLogger, silentLogger, type Logger } from './index';

/**
 * Runs `fn` with process.stdout.write intercepted and returns what was written. pino writes to
 * process.stdout itself (not straight to fd 1) when `write` has been replaced before the logger is
 * created, so the logger must be created inside `fn`.
 */
function captureStdout(fn: () => void): string {
  const chunks: string[] = [];
  const original = process.stdout.write;
  process.stdout.write = (chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  try {
    fn();
  } finally {
    process.stdout.write = original;
  }
  return chunks.join('');
}

const lines = (out: string) =>
  out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

const SECRETS = {
  password: 'pw-top-level-1',
  authorization: 'Bearer eyJ-auth-header-2',
  cookie: 'session=cookie-value-3',
  access_token: 'at-value-4',
  refresh_token: 'rt-value-5',
  nestedPassword: 'pw-nested-6',
  token: 'tok-value-7',
  nestedToken: 'tok-nested-8',
  secretAccessKey: 'sak-value-9',
  newPassword: 'pw-new-10',
  nestedAccessToken: 'at-nested-11',
  internalToken: 'internal-token-12',
  metricsToken: 'metrics-token-13',
};

describe('createLogger', () => {
  it('redacts credentials and tokens wherever services log them', () => {
    const out = captureStdout(() => {
      const logger = createLogger({ name: 'auth' });
      logger.info(
        {
          username: 'ada',
          password: SECRETS.password,
          newPassword: SECRETS.newPassword,
          req: {
            method: 'POST',
            url: '/api/login',
            headers: {
              authorization: SECRETS.authorization,
              cookie: SECRETS.cookie,
              'user-agent': 'curl/8',
              'x-internal-token': SECRETS.internalToken,
            },
          },
          endpoints: { internalToken: SECRETS.internalToken, metricsToken: SECRETS.metricsToken },
          access_token: SECRETS.access_token,
          refresh_token: SECRETS.refresh_token,
          body: { username: 'ada', password: SECRETS.nestedPassword },
          token: SECRETS.token,
          session: { token: SECRETS.nestedToken, access_token: SECRETS.nestedAccessToken },
          s3: { bucket: 'im', secretAccessKey: SECRETS.secretAccessKey },
        },
        'logged in',
      );
    });

    for (const secret of Object.values(SECRETS)) expect(out).not.toContain(secret);

    const [entry, ...rest] = lines(out);
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({
      msg: 'logged in',
      level: 30,
      service: 'auth',
      username: 'ada',
      password: '[redacted]',
      newPassword: '[redacted]',
      req: {
        method: 'POST',
        headers: {
          authorization: '[redacted]',
          cookie: '[redacted]',
          'user-agent': 'curl/8',
          'x-internal-token': '[redacted]',
        },
      },
      endpoints: { internalToken: '[redacted]', metricsToken: '[redacted]' },
      access_token: '[redacted]',
      refresh_token: '[redacted]',
      body: { username: 'ada', password: '[redacted]' },
      token: '[redacted]',
      session: { token: '[redacted]', access_token: '[redacted]' },
      s3: { bucket: 'im', secretAccessKey: '[redacted]' },
    });
  });

  it('redacts two levels deep as well', () => {
    const out = captureStdout(() => {
      createLogger().info(
        {
          cfg: { s3: { secretAccessKey: 'deep-secret-1' } },
          user: { credentials: { password: 'deep-secret-2' } },
        },
        'config',
      );
    });
    expect(out).not.toContain('deep-secret-1');
    expect(out).not.toContain('deep-secret-2');
    expect(lines(out)[0]).toMatchObject({
      cfg: { s3: { secretAccessKey: '[redacted]' } },
      user: { credentials: { password: '[redacted]' } },
    });
  });

  it('redacts in child loggers too', () => {
    const out = captureStdout(() => {
      const child = createLogger().child({ component: 'login' });
      child.warn({ password: SECRETS.password }, 'retry');
    });
    expect(out).not.toContain(SECRETS.password);
    expect(lines(out)[0]).toMatchObject({ component: 'login', password: '[redacted]', msg: 'retry' });
  });

  it('writes one JSON line per entry with an ISO timestamp and no service when unnamed', () => {
    const out = captureStdout(() => {
      const logger = createLogger();
      logger.info('first');
      logger.error({ jobId: 'j1' }, 'second');
    });
    const [first, second] = lines(out);
    expect(first).toMatchObject({ level: 30, msg: 'first' });
    expect(first).not.toHaveProperty('service');
    expect(new Date(first!.time as string).toISOString()).toBe(first!.time);
    expect(second).toMatchObject({ level: 50, msg: 'second', jobId: 'j1' });
  });

  it('drops entries below the configured level', () => {
    const out = captureStdout(() => {
      const logger: Logger = createLogger({ level: 'warn' });
      logger.info('quiet');
      logger.debug('quieter');
      logger.warn('loud');
    });
    expect(lines(out).map((l) => l.msg)).toEqual(['loud']);
  });
});

describe('silentLogger', () => {
  it('writes nothing, at any level', () => {
    const out = captureStdout(() => {
      const logger = silentLogger();
      logger.fatal('fatal');
      logger.error({ err: new Error('x') }, 'error');
      logger.warn('warn');
      logger.info('info');
      logger.child({ component: 'c' }).fatal('child fatal');
    });
    expect(out).toBe('');
  });
});
