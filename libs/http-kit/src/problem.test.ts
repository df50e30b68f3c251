import type { Logger } from '@im/logging';
import express from 'express';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@im/testing';
import { problemHandler } from './problem';

/** A logger that records what was logged at which level. */
function recordingLogger() {
  const lines: { level: string; msg: string }[] = [];
  const at =
    (level: string) =>
    (_obj: unknown, msg?: string): void =>
      void lines.push({ level, msg: msg ?? '' });
  const logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
  return { logger: logger as unknown as Logger, lines };
}

describe('problemHandler', () => {
  it('logs an upload the client cut off as the client leaving, not as an unhandled error', async () => {
    const { logger, lines } = recordingLogger();
    let reading: () => void = () => undefined;
    const started = new Promise<void>((r) => (reading = r));
    const app = express();
    app.post('/upload', (req, _res, next) => {
      req.on('data', () => reading());
      req.on('error', (err) => next(err));
      req.on('aborted', () => next(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
    });
    app.use(problemHandler(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    const { port } = server.address() as AddressInfo;
    try {
      const req = http.request({
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/upload',
        headers: { 'content-length': '1000' },
      });
      req.on('error', () => undefined);
      req.write('only part of the body');
      await started; // the server is reading the body
      req.destroy();
      await waitFor(() => (lines.length > 0 ? true : undefined), { what: 'the handler to log' });
      expect(lines.filter((l) => l.level === 'error')).toEqual([]);
      expect(lines).toContainEqual({
        level: 'info',
        msg: expect.stringContaining('client closed the connection'),
      });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
