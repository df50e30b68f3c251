import { CreateAccountRequest, type Account } from '@im/contracts';
import { hrefBuilder, jsonBody, parse, principalOf, requireAdmin, type HrefBuilder } from '@im/http-kit';
import express, { type RequestHandler, type Router } from 'express';
import type { AccountRecord } from './account.repository';
import type { AccountService } from './account.service';
import { toUserResource } from './auth.routes';

export function toAccountResource(a: AccountRecord, href: HrefBuilder): Account {
  return {
    id: a.id,
    name: a.name,
    // An account is read by its own users only, at GET /api/account.
    href: href('/api/account'),
    created: new Date(a.createdAt).toISOString(),
    lastModified: new Date(a.updatedAt).toISOString(),
  };
}

export interface AccountRoutesDeps {
  accounts: AccountService;
  authenticate: RequestHandler;
  publicBaseUrl?: string;
}

/** GET /api/account (the caller's account) and POST /api/accounts (a new tenant and its first admin). */
export function accountRoutes({ accounts, authenticate, publicBaseUrl }: AccountRoutesDeps): Router {
  const r = express.Router();

  r.get('/api/account', authenticate, async (req, res) => {
    const account = await accounts.mine(principalOf(req));
    res.json(toAccountResource(account, hrefBuilder(req, publicBaseUrl)));
  });

  r.post('/api/accounts', authenticate, requireAdmin, jsonBody({ limit: 16 * 1024 }), async (req, res) => {
    const body = parse(CreateAccountRequest, req.body);
    const { account, admin } = await accounts.create(principalOf(req), body);
    const href = hrefBuilder(req, publicBaseUrl);
    const resource = {
      ...toAccountResource(account, href),
      admin: toUserResource(admin, href, account),
    };
    res.status(201).json(resource);
  });

  return r;
}
