import { envTrustedProxies } from '@im/config';
import { z } from '@im/contracts';
import { AppError } from '@im/errors';
import { PROBLEM_CONTENT_TYPE, toProblem, trustProxyFrom, type TrustProxy } from '@im/http-kit';
import cors from 'cors';
import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import helmet from 'helmet';

export interface HardeningOptions {
  /** Browser origins allowed to call the API cross-origin (exact matches); empty: no CORS headers at all. */
  corsOrigins?: string[];
  /** Requests per minute per token (the JWT's `sub`); 0 disables the limit. */
  rateLimitPerToken?: number;
  /** Requests per minute per client IP; 0 disables the limit. */
  rateLimitPerIp?: number;
  /** The rate-limit window (default one minute; tests shorten it). */
  rateLimitWindowMs?: number;
}

export const DEFAULT_HARDENING: Required<HardeningOptions> = {
  corsOrigins: [],
  rateLimitPerToken: 600,
  rateLimitPerIp: 1200,
  rateLimitWindowMs: 60_000,
};

/**
 * Security headers for an API: nothing may frame, embed or run a response as a page. The docs page
 * sets its own, looser policy (it runs Swagger UI's script and styles from this origin).
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    },
    crossOriginResourcePolicy: { policy: 'same-site' },
    referrerPolicy: { policy: 'no-referrer' },
  });
}

/** CORS for the allow-listed origins only; with none configured it adds no CORS header to anything. */
export function corsAllowList(origins: string[]): RequestHandler {
  if (origins.length === 0) return (_req, _res, next) => next();
  const allowed = new Set(origins);
  return cors({
    origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'If-None-Match'],
    exposedHeaders: ['X-Request-Id', 'Location', 'ETag', 'Retry-After', 'RateLimit', 'RateLimit-Policy'],
    maxAge: 600,
  });
}

/**
 * The subject of a bearer token that looks like a JWT, read without verifying it (the limiter only
 * needs a stable key; the token is verified right after by edge auth). A forged `sub` only spends that
 * subject's budget and the sender's per-IP budget still applies.
 */
export function tokenSubject(req: Request): string | undefined {
  const m = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/.exec(
    req.headers.authorization ?? '',
  );
  if (!m?.[2] || m[2].length > 4096) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(m[2], 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof payload.sub === 'string' && payload.sub.length > 0 && payload.sub.length <= 128
      ? payload.sub
      : undefined;
  } catch {
    return undefined;
  }
}

const clientIp = (req: Request) => ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown');

function tooMany(what: string): RequestHandler {
  return (req, res) => {
    const info = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit;
    const seconds = Math.max(1, Math.ceil(((info?.resetTime?.getTime() ?? Date.now()) - Date.now()) / 1000));
    if (!res.getHeader('Retry-After')) res.setHeader('Retry-After', String(seconds));
    const err = new AppError(
      'RATE_LIMITED',
      `Too many requests ${what}; try again in ${seconds} s (see the Retry-After header).`,
    );
    res
      .status(err.status)
      .type(PROBLEM_CONTENT_TYPE)
      .send(JSON.stringify(toProblem(err, req)));
  };
}

/**
 * Rate limits per client IP and per token, in this replica's memory (each gateway replica counts on
 * its own: with N replicas a client gets up to N times the limit). 429 problem+json with Retry-After.
 */
export function rateLimits(options: HardeningOptions): RequestHandler[] {
  const windowMs = options.rateLimitWindowMs ?? DEFAULT_HARDENING.rateLimitWindowMs;
  const perIp = options.rateLimitPerIp ?? DEFAULT_HARDENING.rateLimitPerIp;
  const perToken = options.rateLimitPerToken ?? DEFAULT_HARDENING.rateLimitPerToken;
  const common = {
    windowMs,
    standardHeaders: 'draft-8' as const,
    legacyHeaders: false,
    // Our own trust-proxy setting is deliberate (see HTTP_TRUST_PROXY); no warnings about it.
    validate: { trustProxy: false, xForwardedForHeader: false },
  };
  const out: RequestHandler[] = [];
  if (perIp > 0)
    out.push(
      rateLimit({
        ...common,
        limit: perIp,
        identifier: 'per-ip',
        keyGenerator: clientIp,
        handler: tooMany('from this address'),
      }),
    );
  if (perToken > 0)
    out.push(
      rateLimit({
        ...common,
        limit: perToken,
        identifier: 'per-token',
        skip: (req) => tokenSubject(req) === undefined,
        keyGenerator: (req) => `sub:${tokenSubject(req) ?? ''}`,
        handler: tooMany('for this user'),
      }),
    );
  return out;
}

/** Helmet, CORS and the rate limits, in that order (a preflight is answered before it counts). */
export function hardening(options: HardeningOptions = {}): RequestHandler[] {
  return [
    securityHeaders(),
    corsAllowList(options.corsOrigins ?? DEFAULT_HARDENING.corsOrigins),
    ...rateLimits(options),
  ];
}

/**
 * The gateway's hardening variables, shared by the gateway's and standalone mode's environments
 * (see services/gateway/README.md).
 */
export const hardeningEnv = {
  /** Comma-separated browser origins allowed cross-origin (e.g. https://ui.example.com); empty: none. */
  GATEWAY_CORS_ORIGINS: z.string().default(''),
  /** Requests per minute per user (token subject), per replica; 0 disables. */
  GATEWAY_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(600),
  /** Requests per minute per client IP, per replica; 0 disables. */
  GATEWAY_RATE_LIMIT_PER_IP_PER_MINUTE: z.coerce.number().int().min(0).default(1200),
  /**
   * Which proxies' X-Forwarded-For to trust for the client IP: comma-separated addresses/ranges of the
   * ingress or load balancer in front (`10.0.0.0/8`, `loopback`); empty (default): nobody's.
   */
  GATEWAY_TRUST_PROXY: envTrustedProxies(),
};

export function hardeningFromEnv(e: {
  GATEWAY_CORS_ORIGINS: string;
  GATEWAY_RATE_LIMIT_PER_MINUTE: number;
  GATEWAY_RATE_LIMIT_PER_IP_PER_MINUTE: number;
  GATEWAY_TRUST_PROXY: string[];
}): { hardening: HardeningOptions; trustProxy: TrustProxy } {
  return {
    hardening: {
      corsOrigins: e.GATEWAY_CORS_ORIGINS.split(',')
        .map((s) => s.trim().replace(/\/+$/, ''))
        .filter(Boolean),
      rateLimitPerToken: e.GATEWAY_RATE_LIMIT_PER_MINUTE,
      rateLimitPerIp: e.GATEWAY_RATE_LIMIT_PER_IP_PER_MINUTE,
    },
    trustProxy: trustProxyFrom(e.GATEWAY_TRUST_PROXY),
  };
}
