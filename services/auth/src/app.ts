import { migrateLatest, type Knex } from '@im/db';
import { createAuthenticator, createServiceApp } from '@im/http-kit';
import type { Logger } from '@im/logging';
import type { Express, RequestHandler, Router } from 'express';
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
  jwtPublicKey: string;
  publicBaseUrl?: string;
  /** Shared authenticator (standalone); built from the public key when absent. */
  authenticate?: RequestHandler;
  /** True once shutdown began: readiness turns 503 first. */
  isDraining?: () => boolean;
}

export interface AuthModule {
  service: AuthService;
  router: Router;
  migrate(): Promise<string[]>;
}

/** The auth service's parts, for a composition root to wire: one per process or all in one. */
export function createAuthModule(deps: AuthDeps): AuthModule {
  const logger = deps.logger.child({ component: 'auth' });
  const service = new AuthService(new UserRepository(deps.db), deps.settings, logger);
  const authenticate = deps.authenticate ?? createAuthenticator(deps.jwtPublicKey);
  return {
    service,
    router: authRoutes({
      auth: service,
      authenticate,
      ...(deps.publicBaseUrl ? { publicBaseUrl: deps.publicBaseUrl } : {}),
    }),
    migrate: () => migrateLatest(deps.db, authMigrations, deps.dbSchema),
  };
}

export function createApp(deps: AuthDeps): Express {
  const mod = createAuthModule(deps);
  return createServiceApp(
    {
      logger: deps.logger,
      trustProxy: 1,
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
