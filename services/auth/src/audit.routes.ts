import { AuditQuery, DEFAULT_ACCOUNT_ID } from '@im/contracts';
import { listPage, parse, principalOf, requireAdmin } from '@im/http-kit';
import express, { type RequestHandler, type Router } from 'express';
import type { AuditRepository } from './audit.repository';

export interface AuditRoutesDeps {
  audit: AuditRepository;
  authenticate: RequestHandler;
  publicBaseUrl?: string;
}

/**
 * `GET /api/audit`: the audit trail of the caller's account, for its administrators only (403 for
 * others). Events without an account (failed logins of unknown callers) are shown to the
 * installation's first account, whose administrators run the platform.
 */
export function auditRoutes({ audit, authenticate, publicBaseUrl }: AuditRoutesDeps): Router {
  const r = express.Router();
  r.get('/api/audit', authenticate, requireAdmin, async (req, res) => {
    const q = parse(AuditQuery, req.query, 'query');
    const me = principalOf(req);
    const page = await audit.page(
      { accountId: me.accountId, includeUnattributed: me.accountId === DEFAULT_ACCOUNT_ID },
      q,
    );
    res.setHeader('Cache-Control', 'no-store');
    res.json(listPage(req, page.rows, page.total, q.offset, q.size, publicBaseUrl));
  });
  return r;
}
