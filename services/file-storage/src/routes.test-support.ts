import type { ConfigAccessPort, Principal } from '@im/contracts';
import { createDb } from '@im/db';
import { NotFoundError } from '@im/errors';
import { silentLogger } from '@im/logging';
import { InProcessEventBus } from '@im/messaging';
import { LocalObjectStorage } from '@im/storage';
import type { RequestHandler } from 'express';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createApp } from './app';

const alice: Principal = { id: '1', name: 'alice', roles: ['user'], accountId: '1' };
/** Test double for the two ports: the caller is alice; configuration 7 is hers, nothing else exists. */
const authenticate: RequestHandler = (req, _res, next) => {
  req.principal = alice;
  next();
};
const access: ConfigAccessPort = {
  assertAccess: async (_p, id) => {
    if (id !== '7') throw new NotFoundError(`There is no job configuration ${id}.`);
  },
};

export interface FileRoutesHarness {
  app: ReturnType<typeof createApp>['app'];
  /** The local object storage's directory. */
  root: string;
  close(): Promise<void>;
}

/** The file-storage app on in-memory SQLite, local storage in a temp dir and the in-process bus. */
export async function fileRoutesHarness(maxBytes: number): Promise<FileRoutesHarness> {
  const db = createDb({ client: 'sqlite', filename: ':memory:' });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'im-files-'));
  const bus = new InProcessEventBus(silentLogger());
  const built = createApp({
    db,
    logger: silentLogger(),
    bus,
    storage: await LocalObjectStorage.open(root),
    access,
    authenticate,
    maxBytes,
  });
  await built.module.migrate();
  return {
    app: built.app,
    root,
    async close() {
      await bus.close();
      await db.destroy();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
