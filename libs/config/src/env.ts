import { z } from '@im/contracts';
import { isIP } from 'node:net';

/**
 * Parses an environment against a zod schema once, at start-up, and answers with one message that
 * lists every variable that is wrong, so an operator fixes them all in one go.
 */
export function parseEnv<S extends z.ZodTypeAny>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      // zod says "expected string, received undefined" for an unset variable; an operator reads "is required".
      const missing = i.code === 'invalid_type' && /received undefined/.test(i.message);
      return `  ${i.path.join('.') || '(env)'}: ${missing ? 'is required' : i.message}`;
    });
    throw new ConfigError(`Invalid configuration; fix these environment variables:\n${lines.join('\n')}`);
  }
  return result.data;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** `true/false/1/0/yes/no` as a boolean. */
export const envBoolean = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .transform((v) => (v === undefined ? defaultValue : ['true', '1', 'yes'].includes(v)));

export const envPort = (defaultValue: number) =>
  z.coerce.number().int().min(0).max(65535).default(defaultValue);

export const envInt = (defaultValue: number, min = 0) =>
  z.coerce.number().int().min(min).default(defaultValue);

/** Human sizes: `104857600`, `100mb`, `2GiB`. */
export const envBytes = (defaultValue: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return defaultValue;
      const m = /^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$/i.exec(v);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: 'must be a size such as 104857600, 100mb or 2GiB' });
        return z.NEVER;
      }
      const unit = (m[2] ?? 'b').toLowerCase()[0] as string;
      const pow = { b: 0, k: 1, m: 2, g: 3, t: 4 }[unit] ?? 0;
      return Number(m[1]) * 1024 ** pow;
    });

export const LogLevelEnv = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .default('info');

/**
 * Runs a service's `main`, turning a failure into one line on stderr and an exit code: 2 for a
 * configuration the operator must fix (the message lists every variable), 1 for anything else.
 * Only `main.ts` files call this.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    const text =
      err instanceof ConfigError
        ? err.message
        : err instanceof Error
          ? (err.stack ?? err.message)
          : String(err);
    process.stderr.write(`${name} failed to start: ${text}\n`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  });
}

/** The names express knows for address ranges (`trust proxy`). */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Proxies whose `X-Forwarded-For` is believed: comma-separated addresses, CIDR ranges (`10.0.0.0/8`)
 * and `loopback`, `linklocal`, `uniquelocal`; empty or `none` (the default): nobody's, the client is
 * the connection's peer. A hop count or `true` is refused: they believe any peer, so a client that
 * reaches the port directly could choose its own address (login throttling, audit).
 */
export const envTrustedProxies = () =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const items = (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '' && s.toLowerCase() !== 'none');
      const bad = items.filter((s) => {
        if (NAMED_RANGES.has(s)) return false;
        const [addr, bits, extra] = s.split('/');
        if (extra !== undefined || !addr || isIP(addr) === 0) return true;
        return bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= (isIP(addr) === 4 ? 32 : 128));
      });
      if (bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `must list proxy addresses or ranges (e.g. "10.0.0.0/8, loopback") or be empty; not ${bad
            .map((b) => JSON.stringify(b))
            .join(', ')} (hop counts and "true" would believe any client)`,
        });
        return z.NEVER;
      }
      return items;
    });
