import { generateKeyringEntry, parseKeyring } from '@im/config';
import type { FileCatalogPort, Principal } from '@im/contracts';
import { createDb, type Knex } from '@im/db';
import { silentLogger } from '@im/logging';
import { InProcessEventBus } from '@im/messaging';
import { LocalObjectStorage, type ObjectStorage } from '@im/storage';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RequestHandler } from 'express';
import { createApp, createJobConfigModule, type JobConfigModule } from './app';

/** Test callers: the one named by the X-Test-User header (`alice` by default) makes each request. */
export const testUsers = {
  alice: { id: '1', name: 'alice', roles: ['user'], accountId: '1' },
  bob: { id: '2', name: 'bob', roles: ['user'], accountId: '1' },
  root: { id: '3', name: 'root', roles: ['admin'], accountId: '1' },
  // The admin of another account: nothing of account 1 exists for them.
  other: { id: '4', name: 'other', roles: ['admin'], accountId: '2' },
} satisfies Record<string, Principal>;

const authenticate: RequestHandler = (req, _res, next) => {
  req.principal = testUsers[(req.get('x-test-user') ?? 'alice') as keyof typeof testUsers];
  next();
};

/** Object storage in a new temporary directory (local, as standalone); `remove` deletes it. */
export async function tempStorage(): Promise<{ storage: LocalObjectStorage; remove(): Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-jobconfig-'));
  return {
    storage: await LocalObjectStorage.open(dir),
    remove: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

/** The keyring of the test app's secure macro values. */
export const TEST_SECRETS = parseKeyring(generateKeyringEntry('test'));

/** A file catalog double: every package is attached and has one entry point. */
const files: FileCatalogPort = { exists: async () => true, entryPoints: async () => ['main.process'] };

export interface RouteHarness {
  db: Knex;
  bus: InProcessEventBus;
  app: ReturnType<typeof createApp>['app'];
  mod: JobConfigModule;
  close(): Promise<void>;
}

/**
 * The jobconfig app on in-memory SQLite and the in-process bus, migrated, with the scheduler off.
 * `before` runs on the bus before the app exists (subscribe there to see what the app publishes);
 * `start` also starts the module's consumers and outbox relay.
 */
export async function routeHarness(
  options: {
    start?: boolean;
    before?: (bus: InProcessEventBus) => Promise<void>;
    /** Where job logs, outputs and packages are read from; an empty temporary one by default. */
    storage?: ObjectStorage;
  } = {},
): Promise<RouteHarness> {
  const db = createDb({ client: 'sqlite', filename: ':memory:' });
  const bus = new InProcessEventBus(silentLogger());
  const temp = options.storage ? undefined : await tempStorage();
  await options.before?.(bus);
  const { app, module: mod } = createApp({
    db,
    logger: silentLogger(),
    bus,
    storage: options.storage ?? (temp?.storage as ObjectStorage),
    files,
    authenticate,
    publicBaseUrl: 'http://im.test',
    scheduler: { enabled: false },
    secrets: TEST_SECRETS,
  });
  await mod.migrate();
  if (options.start) await mod.start();
  return {
    db,
    bus,
    app,
    mod,
    async close() {
      if (options.start) await mod.stop();
      await bus.close();
      await db.destroy();
      await temp?.remove();
    },
  };
}

export interface ModuleHarness {
  db: Knex;
  bus: InProcessEventBus;
  mod: JobConfigModule;
  /** The module's object storage (an empty temporary directory at first). */
  storage: LocalObjectStorage;
  close(): Promise<void>;
}

/**
 * The jobconfig module alone (no HTTP) on in-memory SQLite, the in-process bus and temporary local
 * storage, migrated and started. `before` runs on the bus before the module exists.
 */
export async function moduleHarness(options: {
  files: FileCatalogPort;
  secrets: ReturnType<typeof parseKeyring>;
  before?: (bus: InProcessEventBus) => Promise<unknown>;
}): Promise<ModuleHarness> {
  const temp = await tempStorage();
  const db = createDb({ client: 'sqlite', filename: ':memory:' });
  const bus = new InProcessEventBus(silentLogger());
  await options.before?.(bus);
  const mod = createJobConfigModule({
    db,
    logger: silentLogger(),
    bus,
    storage: temp.storage,
    files: options.files,
    authenticate: (_q, _s, n) => n(),
    secrets: options.secrets,
  });
  await mod.migrate();
  await mod.start();
  return {
    db,
    bus,
    mod,
    storage: temp.storage,
    async close() {
      await mod.stop();
      await bus.close();
      await db.destroy();
      await temp.remove();
    },
  };
}
