import type { ShutdownManager } from '@im/lifecycle';
import type { Express } from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens, and registers the server with the shutdown manager: stop accepting, then drain. */
export async function serve(
  app: Express,
  port: number,
  host: string,
  shutdown: ShutdownManager,
): Promise<{ server: Server; port: number }> {
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(port, host, () => resolve(s));
    s.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  shutdown.register(
    'stop-intake',
    'http',
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  );
  shutdown.register('close-clients', 'http-connections', () => server.closeAllConnections());
  return { server, port: (server.address() as AddressInfo).port };
}
