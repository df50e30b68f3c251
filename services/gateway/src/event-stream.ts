import type { Request, RequestHandler } from 'express';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** The one route that takes its token from the query: EventSource cannot set an Authorization header. */
export const EVENT_STREAM_PATH = '/api/jobs/events';

function withoutToken(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  params.delete('access_token');
  const rest = params.toString();
  return `${url.slice(0, q)}${rest ? `?${rest}` : ''}`;
}

/**
 * For GET /api/jobs/events only: a `?access_token=` becomes the Authorization header (unless one is
 * set) and is dropped from the URL before anything logs or forwards it. The trade-off: a token in a
 * URL can land in browser history and in the logs of proxies in front of the gateway, so it is taken
 * on this route alone, and the console's access tokens are short-lived.
 *
 * The stream also ends when this server stops listening (the first step of a shutdown), so an open
 * stream never holds the gateway's shutdown up; the console's EventSource reconnects to another replica.
 */
export function eventStreamAuth(): RequestHandler {
  return (req, res, next) => {
    if (req.method !== 'GET' || req.path !== EVENT_STREAM_PATH) return next();
    const url = new URL(req.url, 'http://gateway');
    const token = url.searchParams.get('access_token');
    if (token !== null) {
      if (!req.headers.authorization && token) req.headers.authorization = `Bearer ${token}`;
      req.url = withoutToken(req.url);
      req.originalUrl = withoutToken(req.originalUrl);
    }
    const timer = setInterval(() => {
      // Destroyed, not ended: a proxied stream may still be writing; the client sees a drop and reconnects.
      if (!serverListening(req) && !res.writableEnded) res.destroy();
    }, 1000);
    timer.unref();
    res.on('close', () => clearInterval(timer));
    next();
  };
}

function serverListening(req: Request): boolean {
  const server = (req.socket as Socket & { server?: Server }).server;
  return server?.listening ?? true;
}
