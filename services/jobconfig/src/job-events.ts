import { JobEventsQuery, type Job } from '@im/contracts';
import { hrefBuilder, parse, principalOf } from '@im/http-kit';
import type { Logger } from '@im/logging';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { JobService } from './job.service';
import { toJobResource } from './resources';

export interface JobEventsOptions {
  /** How often the caller's jobs are read again (default 1 s). */
  pollMs?: number;
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  heartbeatMs?: number;
  /** How many of the newest jobs are watched (default 50). */
  window?: number;
}

/** True while the HTTP server this request came in on still accepts connections. */
function serverListening(req: Request): boolean {
  const server = (req.socket as Socket & { server?: Server }).server;
  return server?.listening ?? true;
}

/**
 * GET /api/jobs/events: the caller's job status changes as server-sent events, for the web console's
 * jobs table. Each stream reads the caller's newest jobs every second and sends what changed (the same
 * access rules as GET /api/jobs; any replica can serve it, as it reads the database, not the bus). A
 * stream ends on the client's disconnect, after `maxSeconds`, when the server stops listening (shutdown's
 * first step) and on {@link JobEventStreams.close}.
 */
export class JobEventStreams {
  private readonly open = new Set<() => void>();

  constructor(
    private readonly jobs: JobService,
    private readonly logger: Logger,
    private readonly options: JobEventsOptions = {},
  ) {}

  get size(): number {
    return this.open.size;
  }

  routes(authenticate: RequestHandler, publicBaseUrl?: string): Router {
    const r = express.Router();
    r.get('/api/jobs/events', authenticate, async (req, res) => {
      const { maxSeconds } = parse(JobEventsQuery, req.query, 'query');
      const principal = principalOf(req);
      const href = hrefBuilder(req, publicBaseUrl);
      const window = this.options.window ?? 50;
      const read = async () =>
        (await this.jobs.list(principal, {}, { page: 0, size: window })).rows.map((j) =>
          toJobResource(j, href),
        );
      // The first read before the headers: a failure is still an ordinary problem answer.
      const first = await read();
      await this.stream(req, res, first, read, maxSeconds * 1000);
    });
    return r;
  }

  /** Ends every open stream (shutdown). */
  close(): void {
    for (const end of [...this.open]) end();
  }

  private async stream(
    req: Request,
    res: Response,
    first: Job[],
    read: () => Promise<Job[]>,
    maxMs: number,
  ): Promise<void> {
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();

    let ended = false;
    let wake: (() => void) | undefined;
    const end = () => {
      ended = true;
      wake?.();
    };
    this.open.add(end);
    res.on('close', end);
    let lastWrite = Date.now();
    const write = (chunk: string) => {
      if (ended || res.writableEnded) return;
      res.write(chunk);
      lastWrite = Date.now();
    };
    const seen = new Map<string, string>();
    const send = (jobs: Job[]) => {
      for (const j of jobs) {
        if (seen.get(j.id) === j.status) continue;
        seen.set(j.id, j.status);
        write(`event: job\ndata: ${JSON.stringify(j)}\n\n`);
      }
    };

    const pollMs = this.options.pollMs ?? 1000;
    const heartbeatMs = this.options.heartbeatMs ?? 15_000;
    const deadline = Date.now() + maxMs;
    try {
      write('retry: 3000\n\n');
      send(first);
      for (;;) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(0, Math.min(pollMs, deadline - Date.now())));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
        if (ended || Date.now() >= deadline || !serverListening(req)) break;
        send(await read());
        if (Date.now() - lastWrite >= heartbeatMs) write(': keep-alive\n\n');
      }
    } catch (err) {
      // The headers are sent: the stream just ends, and EventSource reconnects after `retry`.
      this.logger.warn({ err }, 'job event stream ended on an error');
    } finally {
      this.open.delete(end);
      res.off('close', end);
      if (!res.writableEnded) res.end();
    }
  }
}
