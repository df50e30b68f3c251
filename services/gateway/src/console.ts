import type { Logger } from '@im/logging';
import express, { type Router } from 'express';
import helmet from 'helmet';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Where the web console's build is: services/console/dist beside this package (the same layout in the
 * repository and in the image, where each workspace keeps its package.json and dist/).
 */
export function defaultConsoleDir(): string {
  return path.resolve(__dirname, '..', '..', 'console', 'dist');
}

/**
 * The console's own policy: its script, styles and API calls come from this origin only, nothing
 * inline, nothing may frame it. (The API keeps its `default-src 'none'`, set in hardening.ts.)
 */
export const CONSOLE_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/**
 * The web console (services/console, React + Vite) at /ui: its hashed assets cached for long, and
 * index.html for every other /ui/* path (the app routes in the browser). When the build is missing,
 * /ui says so and the log names the directory.
 */
export function consoleRoutes(logger: Logger, dir: string = defaultConsoleDir()): Router {
  const r = express.Router();
  const index = path.join(dir, 'index.html');
  const headers = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: CONSOLE_CSP },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
  });

  if (!fs.existsSync(index)) {
    logger.warn(
      { dir },
      'web console not found (no index.html there): /ui answers 503; `npm run build` builds services/console',
    );
    r.use('/ui', (_req, res) => {
      res.status(503).type('text/plain').send('The web console is not built on this server.\n');
    });
    return r;
  }
  logger.info({ dir }, 'web console served at /ui');

  r.get('/ui', (req, res, next) => {
    // Non-strict routing sends /ui/ here too: only the bare /ui is redirected.
    if (req.path !== '/ui') return next();
    const q = req.originalUrl.indexOf('?');
    res.redirect(301, `/ui/${q >= 0 ? req.originalUrl.slice(q) : ''}`);
  });
  r.use('/ui', headers);
  r.use(
    '/ui/assets',
    express.static(path.join(dir, 'assets'), {
      index: false,
      immutable: true,
      maxAge: '365d',
      fallthrough: false,
    }),
  );
  r.use('/ui', express.static(dir, { index: false, maxAge: 0 }));
  r.get(['/ui/', '/ui/*rest'], (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return r;
}
