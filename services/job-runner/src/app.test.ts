import { silentLogger } from '@im/logging';
import { LocalObjectStorage } from '@im/storage';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import request from 'supertest';
import { createApp } from './app';

describe('createApp (health only)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-runner-app-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('answers /healthz, and /readyz once started until draining', async () => {
    let draining = false;
    let started = false;
    const app = createApp({
      logger: silentLogger(),
      storage: await LocalObjectStorage.open(dir),
      isDraining: () => draining,
      isStarted: () => started,
    });
    await request(app).get('/healthz').expect(200, { status: 'ok' });
    await request(app).get('/readyz').expect(503);
    started = true;
    await request(app).get('/readyz').expect(200);
    draining = true;
    await request(app).get('/readyz').expect(503);
    await request(app).get('/api/jobs').expect(404);
  });
});
