import type { ConfigAccessPort } from '@im/contracts';
import { migrateLatest, type Knex } from '@im/db';
import { Auditor, auditTrail, createServiceApp, type EndpointTokens, type TrustProxy } from '@im/http-kit';
import type { Logger } from '@im/logging';
import type { EventBus, Subscription } from '@im/messaging';
import type { ObjectStorage } from '@im/storage';
import express, { type Express, type RequestHandler, type Router } from 'express';
import { FILE_AUDIT_RULES } from './audit.rules';
import { fileStorageMigrations } from './file-storage.migrations';
import { FileRepository } from './file.repository';
import { fileRoutes } from './file.routes';
import { FileService } from './file.service';

export interface FileStorageDeps {
  db: Knex;
  dbSchema?: string;
  logger: Logger;
  bus: EventBus;
  storage: ObjectStorage;
  access: ConfigAccessPort;
  authenticate: RequestHandler;
  /** Largest file accepted, in bytes (413 beyond). */
  maxBytes: number;
  publicBaseUrl?: string;
  changesGroupId?: string;
}

export interface FileStorageModule {
  files: FileService;
  router: Router;
  migrate(): Promise<string[]>;
  /** Starts consuming configuration changes (a deleted configuration's files are removed). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createFileStorageModule(deps: FileStorageDeps): FileStorageModule {
  const logger = deps.logger.child({ component: 'file-storage' });
  const files = new FileService(new FileRepository(deps.db), deps.storage, deps.bus, logger, deps.maxBytes);
  let sub: Subscription | undefined;
  // Stored and deleted files go to the audit trail (best effort).
  const auditor = new Auditor((e) => deps.bus.publish('audit.events', e), logger, 'file-storage');
  const router = express.Router();
  router.use(auditTrail(auditor, FILE_AUDIT_RULES));
  router.use(
    fileRoutes({
      files,
      access: deps.access,
      authenticate: deps.authenticate,
      ...(deps.publicBaseUrl ? { publicBaseUrl: deps.publicBaseUrl } : {}),
    }),
  );
  return {
    files,
    router,
    migrate: () => migrateLatest(deps.db, fileStorageMigrations, deps.dbSchema),
    async start() {
      sub = await deps.bus.subscribe({
        groupId: deps.changesGroupId ?? 'file-storage.jobconfig-changes',
        topic: 'jobconfig.changes',
        handler: async (m) => {
          if (m.change === 'deleted') await files.deleteAll(m.jobConfigId);
        },
      });
    },
    async stop() {
      await sub?.close();
    },
  };
}

export function createApp(
  deps: FileStorageDeps & { isDraining?: () => boolean; trustProxy?: TrustProxy; endpoints?: EndpointTokens },
): {
  app: Express;
  module: FileStorageModule;
} {
  const module = createFileStorageModule(deps);
  const app = createServiceApp(
    {
      logger: deps.logger,
      trustProxy: deps.trustProxy ?? false,
      ...deps.endpoints,
      readiness: {
        checks: {
          database: () => deps.db.raw('select 1'),
          storage: () => deps.storage.ping(),
          kafka: () => deps.bus.ping(),
        },
        ...(deps.isDraining ? { isDraining: deps.isDraining } : {}),
      },
    },
    module.router,
  );
  return { app, module };
}

export { FileService } from './file.service';
export { fileStorageMigrations } from './file-storage.migrations';
