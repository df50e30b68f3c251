import type { AuditRule } from '@im/http-kit';

/** The token's claims the audit trail needs, read from the access token this service just signed. */
function claimsOf(body: unknown): { sub?: string; name?: string; acc?: string } {
  const token = (body as { access_token?: unknown } | undefined)?.access_token;
  if (typeof token !== 'string') return {};
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      sub?: string;
      name?: string;
      acc?: string;
    };
  } catch {
    return {};
  }
}

/** The user name a login attempt gave (as given, cut to 64 characters); never the password. */
function attemptedName(body: unknown): string | null {
  const u = (body as { username?: unknown } | undefined)?.username;
  return typeof u === 'string' ? u.slice(0, 64) : null;
}

const user = (p: Record<string, string>) => ({ type: 'user', id: p.id ?? '' });

/** What auth records (docs/security.md, "Audit"). */
export const AUTH_AUDIT_RULES: AuditRule[] = [
  {
    method: 'POST',
    path: '/api/login',
    action: 'login.succeeded',
    failureAction: 'login.failed',
    // Bad credentials (401) and a throttled address (429) are failed attempts.
    failureStatuses: [401, 429],
    fromBody: (body, req) => {
      const c = claimsOf(body);
      const username = attemptedName(req.body);
      return c.sub
        ? {
            actor: { id: c.sub, name: c.name ?? username ?? '' },
            accountId: c.acc ?? null,
            details: { username },
          }
        : { actor: null, accountId: null, details: { username } };
    },
    resource: () => null,
  },
  {
    method: 'POST',
    path: '/api/users',
    action: 'user.created',
    resource: (_p, res) => {
      const id = /\/users\/([^/]+)$/.exec(String(res.getHeader('location') ?? ''))?.[1];
      return id ? { type: 'user', id } : null;
    },
    details: (_p, req) => ({ name: (req.body as { name?: string } | undefined)?.name ?? null }),
  },
  {
    method: 'PUT',
    path: '/api/users/:id',
    action: 'user.updated',
    resource: user,
    details: (_p, req) => {
      const b = (req.body ?? {}) as { active?: unknown; roles?: unknown };
      return {
        ...(typeof b.active === 'boolean' ? { active: b.active } : {}),
        ...(Array.isArray(b.roles) ? { roles: b.roles.filter((r) => typeof r === 'string').join(',') } : {}),
      };
    },
  },
  { method: 'POST', path: '/api/users/:id/password', action: 'user.password-changed', resource: user },
  {
    method: 'POST',
    path: '/api/accounts',
    action: 'account.created',
    resource: (_p, res) => {
      const id = /\/accounts\/([^/]+)$/.exec(String(res.getHeader('location') ?? ''))?.[1];
      return id ? { type: 'account', id } : null;
    },
  },
];
