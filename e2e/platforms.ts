import {
  startDistributed,
  startStandalone,
  type DistributedPlatform,
  type PlatformProcess,
} from '@im/testing';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** One way of running the whole platform, as the end-to-end suites see it: a URL and a restart. */
export interface PlatformDriver {
  readonly name: string;
  readonly adminPassword: string;
  url(): string;
  start(): Promise<void>;
  /** Stops everything gracefully (asserting clean exits) and starts it again on the same data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** PEM of the token-signing key, to forge tokens in tests. */
  privateKeyPem(): string;
  /** Every process's own base URL (standalone: the one process; distributed: gateway, services, runners). */
  processUrls(): Record<string, string>;
  /** The bearer token of every process's /metrics. */
  metricsToken(): string;
  /** The internal token the services behind the gateway want (none in standalone: no internal HTTP). */
  internalToken(): string | undefined;
}

export function standaloneDriver(): PlatformDriver {
  const adminPassword = 'e2e-admin-password-123';
  let dataDir = '';
  let p: PlatformProcess | undefined;
  const boot = async () => {
    p = await startStandalone({ IM_DATA_DIR: dataDir, IM_ADMIN_PASSWORD: adminPassword });
  };
  return {
    name: 'standalone',
    adminPassword,
    url: () => (p as PlatformProcess).url,
    async start() {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-e2e-'));
      await boot();
    },
    async restart() {
      const code = await (p as PlatformProcess).stop();
      if (code !== 0) throw new Error(`the platform exited with ${code} on SIGTERM:\n${p?.output()}`);
      await boot();
    },
    async stop() {
      await p?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
    privateKeyPem: () => fs.readFileSync(path.join(dataDir, 'keys', 'jwt-private.pem'), 'utf8'),
    processUrls: () => ({ standalone: (p as PlatformProcess).url }),
    // Made on the first start in the data directory, as the other keys.
    metricsToken: () => fs.readFileSync(path.join(dataDir, 'keys', 'metrics-token'), 'utf8').trim(),
    internalToken: () => undefined,
  };
}

export function distributedDriver(): PlatformDriver {
  let d: DistributedPlatform | undefined;
  return {
    name: 'distributed',
    adminPassword: 'distributed-admin-123',
    url: () => (d as DistributedPlatform).url,
    async start() {
      d = await startDistributed();
    },
    async restart() {
      const codes = await (d as DistributedPlatform).stopServices();
      const unclean = Object.entries(codes).filter(([, c]) => c !== 0);
      if (unclean.length > 0)
        throw new Error(`services exited uncleanly on SIGTERM: ${JSON.stringify(unclean)}`);
      await (d as DistributedPlatform).startServices();
    },
    async stop() {
      await d?.stop();
    },
    privateKeyPem: () => (d as DistributedPlatform).privateKeyPem,
    processUrls: () => (d as DistributedPlatform).urls,
    metricsToken: () => (d as DistributedPlatform).metricsToken,
    internalToken: () => (d as DistributedPlatform).internalToken,
  };
}
