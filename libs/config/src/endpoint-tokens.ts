import { z } from '@im/contracts';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from './env';

/** How an operator makes a token (said in every message about a missing or weak one). */
export const TOKEN_HOWTO = 'make one with `openssl rand -hex 32` (32 or more visible ASCII characters)';

const TOKEN = /^[\x21-\x7e]{32,}$/;

/**
 * The installation's internal token: the gateway and the services send it to each other, and a
 * service behind the gateway answers nothing but `/healthz` and `/readyz` without it. The job
 * runner never holds it.
 */
export const internalTokenEnv = {
  /** The internal token between the gateway and the services (or INTERNAL_TOKEN_FILE); required to serve. */
  INTERNAL_TOKEN: z.string().optional(),
  INTERNAL_TOKEN_FILE: z.string().optional(),
};

/** The token Prometheus sends to `/metrics` (`Authorization: Bearer`); unset: `/metrics` answers 401. */
export const metricsTokenEnv = {
  /** Bearer token of GET /metrics (or METRICS_TOKEN_FILE); unset: /metrics is off (401). */
  METRICS_TOKEN: z.string().optional(),
  METRICS_TOKEN_FILE: z.string().optional(),
};

/**
 * A token given inline (`NAME`) or as a file (`NAME_FILE`, a Secret mounted as a file; one trailing
 * newline dropped); undefined when neither is set. Throws a {@link ConfigError} naming the variable
 * (never the value) when it is too short or holds spaces or control characters.
 */
export function tokenFrom(
  inline: string | undefined,
  file: string | undefined,
  name: string,
): string | undefined {
  let value = inline;
  let from = name;
  if (!value && file) {
    from = `${name}_FILE (${file})`;
    try {
      value = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(
        `Invalid configuration; fix these environment variables:\n  ${name}_FILE: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  if (!value) return undefined;
  return usable(value, `Invalid configuration; fix these environment variables:\n  ${from}`);
}

function usable(value: string, where: string): string {
  if (!TOKEN.test(value)) throw new ConfigError(`${where}: is not a usable token: ${TOKEN_HOWTO}`);
  return value;
}

/** The internal token a service behind the gateway must have: throws saying how to make one when unset. */
export function internalTokenFrom(e: z.infer<z.ZodObject<typeof internalTokenEnv>>, service: string): string {
  const token = tokenFrom(e.INTERNAL_TOKEN, e.INTERNAL_TOKEN_FILE, 'INTERNAL_TOKEN');
  if (token) return token;
  throw new ConfigError(
    `Invalid configuration; fix these environment variables:\n  INTERNAL_TOKEN: is required (${service} ${service === 'gateway' ? 'sends it to the services' : 'answers only the gateway and the other services, which send it'}), or set INTERNAL_TOKEN_FILE; the same value in every service of the installation: ${TOKEN_HOWTO}`,
  );
}

/** The metrics token when one is set (`/metrics` is off without it). */
export function metricsTokenFrom(e: z.infer<z.ZodObject<typeof metricsTokenEnv>>): string | undefined {
  return tokenFrom(e.METRICS_TOKEN, e.METRICS_TOKEN_FILE, 'METRICS_TOKEN');
}

/**
 * A token kept in a file (standalone mode's data/keys): read when it exists, otherwise 32 random
 * bytes in hex are written (mode 600, never over an existing file). Rotation: delete it, restart.
 */
export function loadOrCreateTokenFile(file: string): { token: string; created: boolean } {
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    return { token: usable(text, `${file} (delete it to have a new one made)`), created: false };
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('hex');
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return { token, created: true };
}
