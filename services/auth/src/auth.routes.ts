import {
  ChangePasswordRequest,
  CreateUserRequest,
  ListQuery,
  LoginRequest,
  NumericId,
  RefreshRequest,
  UpdateUserRequest,
  z,
  type User,
} from '@im/contracts';
import {
  hrefBuilder,
  jsonBody,
  listPage,
  parse,
  principalOf,
  requireAdmin,
  type HrefBuilder,
} from '@im/http-kit';
import express, { type RequestHandler, type Router } from 'express';
import type { AccountRecord } from './account.repository';
import type { AccountService } from './account.service';
import { LoginThrottledError, type AuthService } from './auth.service';
import type { UserRecord } from './user.repository';

const IdParams = z.object({ id: NumericId });

export function toUserResource(u: UserRecord, href: HrefBuilder, account: AccountRecord): User {
  return {
    id: u.id,
    name: u.name,
    href: href(`/api/users/${u.id}`),
    email: u.email,
    fullName: u.fullName,
    active: u.active,
    roles: u.roles,
    // Users only ever see users of their own account, so its href is the caller's account.
    account: { id: account.id, name: account.name, href: href('/api/account') },
    created: new Date(u.createdAt).toISOString(),
    lastModified: new Date(u.updatedAt).toISOString(),
  };
}

export interface AuthRoutesDeps {
  auth: AuthService;
  accounts: AccountService;
  authenticate: RequestHandler;
  publicBaseUrl?: string;
}

export function authRoutes({ auth, accounts, authenticate, publicBaseUrl }: AuthRoutesDeps): Router {
  const r = express.Router();
  const noStore: RequestHandler = (_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  };

  // The public keys that verify access tokens (RFC 7517), for every service and any client; public.
  r.get('/api/.well-known/jwks.json', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json(auth.keys.jwks);
  });

  r.post('/api/login', noStore, jsonBody({ limit: 16 * 1024 }), async (req, res) => {
    const body = parse(LoginRequest, req.body);
    try {
      res.json(await auth.login(body.username, body.password, req.ip ?? req.socket.remoteAddress));
    } catch (err) {
      if (err instanceof LoginThrottledError) res.setHeader('Retry-After', String(err.retryAfterSeconds));
      throw err;
    }
  });

  r.post('/api/login/refresh', noStore, jsonBody({ limit: 16 * 1024 }), async (req, res) => {
    const body = parse(RefreshRequest, req.body);
    res.json(await auth.refresh(body.refresh_token));
  });

  r.post('/api/logout', authenticate, async (req, res) => {
    await auth.logout(principalOf(req).id);
    res.status(204).end();
  });

  r.get('/api/user', authenticate, async (req, res) => {
    const user = await auth.get(principalOf(req).id);
    res.json(toUserResource(user, hrefBuilder(req, publicBaseUrl), await accounts.get(user.accountId)));
  });

  r.get('/api/users', authenticate, requireAdmin, async (req, res) => {
    const q = parse(ListQuery, req.query, 'query');
    const me = principalOf(req);
    const page = await auth.list(me, {
      page: q.offset,
      size: q.size,
      sortby: q.sortby,
      direction: q.direction,
    });
    const href = hrefBuilder(req, publicBaseUrl);
    const account = await accounts.mine(me);
    res.json(
      listPage(
        req,
        page.rows.map((u) => toUserResource(u, href, account)),
        page.total,
        q.offset,
        q.size,
        publicBaseUrl,
      ),
    );
  });

  r.post('/api/users', authenticate, requireAdmin, jsonBody(), async (req, res) => {
    const body = parse(CreateUserRequest, req.body);
    const me = principalOf(req);
    const user = await auth.create(me, body);
    const resource = toUserResource(user, hrefBuilder(req, publicBaseUrl), await accounts.mine(me));
    res.status(201).location(resource.href).json(resource);
  });

  r.get('/api/users/:id', authenticate, async (req, res) => {
    const { id } = parse(IdParams, req.params, 'params');
    const me = principalOf(req);
    // Admins read the users of their account, others only themselves; the rest do not exist for them.
    const user = await auth.getFor(me, id);
    res.json(toUserResource(user, hrefBuilder(req, publicBaseUrl), await accounts.mine(me)));
  });

  r.put('/api/users/:id', authenticate, requireAdmin, jsonBody(), async (req, res) => {
    const { id } = parse(IdParams, req.params, 'params');
    const body = parse(UpdateUserRequest, req.body);
    const me = principalOf(req);
    const user = await auth.update(me, id, body);
    res.json(toUserResource(user, hrefBuilder(req, publicBaseUrl), await accounts.mine(me)));
  });

  r.post('/api/users/:id/password', authenticate, jsonBody({ limit: 16 * 1024 }), async (req, res) => {
    const { id } = parse(IdParams, req.params, 'params');
    const body = parse(ChangePasswordRequest, req.body);
    await auth.changePassword(principalOf(req), id, body);
    res.status(204).end();
  });

  return r;
}
