import type { UserChanged } from '@im/contracts';
import { migrateLatest, type Knex } from '@im/db';
import {
  applyUserState,
  Auditor,
  auditTrail,
  createAuthenticator,
  createServiceApp,
  type TrustProxy,
  type EndpointTokens,
} from '@im/http-kit';
import type { Logger } from '@im/logging';
import type { EventBus } from '@im/messaging';
import express, { type Express, type RequestHandler, type Router } from 'express';
import { accountRoutes } from './account.routes';
import { AccountService } from './account.service';
import { AuditRepository } from './audit.repository';
import { auditRoutes } from './audit.routes';
import { AUTH_AUDIT_RULES } from './audit.rules';
import { keepAuditStore } from './audit.store';
import { authMigrations } from './auth.migrations';
import { authRoutes } from './auth.routes';
import { AuthService, type AuthSettings } from './auth.service';
import { UserRepository } from './user.repository';

export interface AuthDeps {
  db: Knex;
  /** The schema the service owns on PostgreSQL. */
  dbSchema?: string;
  logger: Logger;
  settings: AuthSettings;
  /** Unused: the auth service verifies its own tokens against its own JWKS (kept for older callers). */
  jwtPublicKey?: string;
  publicBaseUrl?: string;
  /** Shared authenticator (standalone); built from the public key when absent. */
  authenticate?: RequestHandler;
  /** True once shutdown began: readiness turns 503 first. */
  isDraining?: () => boolean;
  /** Where `user.changes` goes (jobconfig stops a deactivated user's jobs); none in unit tests. */
  bus?: EventBus;
}

export interface AuthModule {
  service: AuthService;
  accounts: AccountService;
  router: Router;
  migrate(): Promise<string[]>;
  /** The stored audit trail (GET /api/audit). */
  audit: AuditRepository;
  /**
   * Starts storing the audit events of every service (needs the bus; never fails: while the bus is
   * unreachable it keeps retrying in the background); stopAudit() stops it.
   */
  startAudit(groupId?: string): Promise<void>;
  stopAudit(): Promise<void>;
}

/** The auth service's parts, for a composition root to wire: one per process or all in one. */
export function createAuthModule(deps: AuthDeps): AuthModule {
  const logger = deps.logger.child({ component: 'auth' });
  const bus = deps.bus;
  const publish = bus ? (e: UserChanged) => bus.publish('user.changes', e) : undefined;
  const service = new AuthService(new UserRepository(deps.db), deps.settings, logger, Date.now, publish);
  const accounts = new AccountService(deps.db, logger, Date.now, publish);
  // A token is judged by its user as they are now (this service holds the users): a deactivated
  // user's token stops working and a demoted user's loses the role, on the next request.
  const authenticate = applyUserState(
    deps.authenticate ?? createAuthenticator({ jwks: service.keys.jwks }),
    (id) => service.currentState(id),
  );
  const opt = deps.publicBaseUrl ? { publicBaseUrl: deps.publicBaseUrl } : {};
  const audit = new AuditRepository(deps.db);
  const auditor = new Auditor(bus ? (e) => bus.publish('audit.events', e) : undefined, logger, 'auth');
  let auditStore: ReturnType<typeof keepAuditStore> | undefined;
  const router = express.Router();
  router.use(auditTrail(auditor, AUTH_AUDIT_RULES));
  router.use(auditRoutes({ audit, authenticate, ...opt }));
  router.use(authRoutes({ auth: service, accounts, authenticate, ...opt }));
  router.use(accountRoutes({ accounts, authenticate, ...opt }));
  return {
    service,
    accounts,
    router,
    migrate: () => migrateLatest(deps.db, authMigrations, deps.dbSchema),
    audit,
    async startAudit(groupId) {
      if (!bus || auditStore) return;
      auditStore = keepAuditStore(bus, audit, logger, groupId ? { groupId } : {});
      await auditStore.ready;
    },
    async stopAudit() {
      await auditStore?.close();
      auditStore = undefined;
    },
  };
}

export function createApp(deps: AuthDeps & { trustProxy?: TrustProxy; endpoints?: EndpointTokens }): Express {
  const mod = createAuthModule(deps);
  return createServiceApp(
    {
      logger: deps.logger,
      trustProxy: deps.trustProxy ?? false,
      ...deps.endpoints,
      readiness: {
        checks: { database: () => deps.db.raw('select 1') },
        ...(deps.isDraining ? { isDraining: deps.isDraining } : {}),
      },
    },
    mod.router,
  );
}

export { AuthService, type AuthSettings } from './auth.service';
export { authMigrations } from './auth.migrations';
