import { trace } from '@opentelemetry/api';
import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Paths pino must never print: credentials, tokens and secret values wherever they appear. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.cookie',
  'res.headers["set-cookie"]',
  // Two levels deep as well (pino's * matches one level): { cfg: { s3: { secretAccessKey } } }.
  '*.*.password',
  '*.*.token',
  '*.*.secretAccessKey',
  '*.*.access_token',
  '*.*.refresh_token',
  'headers.authorization',
  'password',
  '*.password',
  'newPassword',
  '*.newPassword',
  'currentPassword',
  'access_token',
  'token',
  '*.token',
  'refresh_token',
  '*.access_token',
  '*.refresh_token',
  'secretAccessKey',
  '*.secretAccessKey',
  '*.secretKey',
  'secretKey',
  '*.jwtPrivateKey',
  // The platform's own endpoint credentials (docs/security.md, "Internal endpoints").
  'req.headers["x-internal-token"]',
  'headers["x-internal-token"]',
  'internalToken',
  '*.internalToken',
  'metricsToken',
  '*.metricsToken',
];

export interface LoggingOptions {
  level?: string;
  /** Pretty output is for a person at a terminal; JSON is the default for machines. */
  pretty?: boolean;
  name?: string;
}

const NO_IDS = {};

/**
 * Adds the active trace's `traceId` and `spanId` to a log line written inside a span (a request, a
 * record's handler, a job), so a line leads to its trace and a trace to its lines.
 */
export function traceMixin(): object {
  const span = trace.getActiveSpan();
  if (!span) return NO_IDS;
  const { traceId, spanId } = span.spanContext();
  return { traceId, spanId };
}

/** The one root logger of a process; components take `logger.child({ component })`. */
export function createLogger(options: LoggingOptions = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: options.name ? { service: options.name } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: traceMixin,
  };
  return pino(opts);
}

/** A logger that drops everything: for unit tests that do not assert on logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
