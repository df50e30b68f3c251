import type { AuditAction, AuditEvent } from '@im/contracts';
import type { Logger } from '@im/logging';
import type { Request, RequestHandler, Response } from 'express';
import { randomUUID } from 'node:crypto';
import './request-context';

/** Where audit events go (the `audit.events` topic); absent in tests and tools that need none. */
export type AuditPublish = (event: AuditEvent) => Promise<void>;

export type AuditDetails = AuditEvent['details'];

export interface AuditRecord {
  action: AuditAction;
  outcome: AuditEvent['outcome'];
  resource?: AuditEvent['resource'];
  /** Small scalars only: names, counts, statuses. Never a secret, a macro value or a password. */
  details?: AuditDetails;
  /** Overrides the caller taken from the request (a login names who logged in). */
  actor?: AuditEvent['actor'];
  accountId?: string | null;
}

const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

/** Keeps details small and scalar whatever a caller passes. */
function sanitize(details: AuditDetails | undefined): AuditDetails {
  const out: AuditDetails = {};
  for (const [k, v] of Object.entries(details ?? {}).slice(0, 16)) {
    if (typeof v === 'string') out[cut(k, 64)] = cut(v, 256);
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) out[cut(k, 64)] = v;
  }
  return out;
}

/**
 * Records audit events. Best effort: publishing never fails or delays the caller's request (it runs
 * after the answer, and a failure is logged, not thrown). Delivery is at least once when the bus
 * accepts the record; an event is lost if the bus is down when it happens (no outbox).
 */
export class Auditor {
  constructor(
    private readonly publish: AuditPublish | undefined,
    readonly logger: Logger,
    private readonly service: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The event for `rec`, with who, when and from where taken from the request. */
  eventFor(req: Request, rec: AuditRecord): AuditEvent {
    const p = req.principal;
    const actor = rec.actor !== undefined ? rec.actor : p ? { id: p.id, name: p.name } : null;
    return {
      id: randomUUID(),
      time: new Date(this.now()).toISOString(),
      actor: actor ? { id: cut(actor.id, 64), name: cut(actor.name, 128) } : null,
      accountId: rec.accountId !== undefined ? rec.accountId : (p?.accountId ?? null),
      action: rec.action,
      resource: rec.resource ? { type: cut(rec.resource.type, 32), id: cut(rec.resource.id, 512) } : null,
      outcome: rec.outcome,
      sourceIp: req.ip ? cut(req.ip, 64) : null,
      requestId: req.requestId ? cut(req.requestId, 128) : null,
      service: this.service,
      details: sanitize(rec.details),
    };
  }

  /** Publishes in the background; never throws. */
  record(req: Request, rec: AuditRecord): void {
    if (!this.publish) return;
    let event: AuditEvent;
    try {
      event = this.eventFor(req, rec);
    } catch (err) {
      this.logger.error({ err, action: rec.action }, 'could not build an audit event');
      return;
    }
    this.publish(event).catch((err: unknown) => {
      this.logger.error(
        { err, auditId: event.id, action: event.action, requestId: event.requestId },
        'could not publish an audit event; it is lost',
      );
    });
  }
}

/** One audited route: when a request to it is answered, what to record. */
export interface AuditRule {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** An express-style path, e.g. `/api/jobconfigs/:id/macros/:name`. */
  path: string;
  /**
   * The action on success (2xx), or a function of the answer (a PUT that created answers 201); on 401
   * and 403 `failure` of the same action is recorded.
   */
  action: AuditAction | ((res: Response) => AuditAction);
  /** What was acted on, from the path's params and the answer (a created resource's Location). */
  resource?: (params: Record<string, string>, res: Response, req: Request) => AuditEvent['resource'];
  /** Safe details from the params and the already-validated body (never the body as it is). */
  details?: (params: Record<string, string>, req: Request) => AuditDetails;
  /** For answers that name the caller (a login): the actor and account, from the JSON body sent. */
  fromBody?: (body: unknown, req: Request) => Pick<AuditRecord, 'actor' | 'accountId' | 'details'>;
  /** Statuses recorded as a failure (default 401 and 403). */
  failureStatuses?: number[];
  /** The action recorded on failure, when it has a name of its own (`login.failed`). */
  failureAction?: AuditAction;
}

interface CompiledRule extends AuditRule {
  regex: RegExp;
  names: string[];
}

function compile(rule: AuditRule): CompiledRule {
  const names: string[] = [];
  const pattern = rule.path
    .split('/')
    .map((seg) => {
      if (seg.startsWith(':')) {
        names.push(seg.slice(1));
        return '([^/]+)';
      }
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { ...rule, regex: new RegExp(`^${pattern}/?$`), names };
}

/** The last path segment of a Location header (a created resource's id), decoded. */
export function idFromLocation(res: Response): string | null {
  const loc = res.getHeader('location');
  if (typeof loc !== 'string' || loc === '') return null;
  const last = new URL(loc, 'http://x').pathname.split('/').filter(Boolean).pop();
  if (!last) return null;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/**
 * Records the audited routes of a service as they are answered: success on 2xx, failure on 401/403
 * (or the rule's statuses); other answers (validation errors, 404) change nothing and are not
 * recorded. Mount it before the routes; it only watches.
 */
export function auditTrail(auditor: Auditor, rules: AuditRule[]): RequestHandler {
  const compiled = rules.map(compile);
  return (req, res, next) => {
    const rule = compiled.find((r) => r.method === req.method && r.regex.test(req.path));
    if (!rule) return next();
    const m = rule.regex.exec(req.path) as RegExpExecArray;
    const params: Record<string, string> = {};
    rule.names.forEach((n, i) => {
      try {
        params[n] = decodeURIComponent(m[i + 1] ?? '');
      } catch {
        params[n] = m[i + 1] ?? '';
      }
    });
    let sentBody: unknown;
    if (rule.fromBody) {
      const json = res.json.bind(res);
      res.json = (body: unknown) => {
        sentBody = body;
        return json(body);
      };
    }
    res.on('finish', () => {
      const status = res.statusCode;
      const failure = (rule.failureStatuses ?? [401, 403]).includes(status);
      if (!(status >= 200 && status < 300) && !failure) return;
      try {
        const fromBody = rule.fromBody?.(sentBody, req) ?? {};
        const action = typeof rule.action === 'function' ? rule.action(res) : rule.action;
        auditor.record(req, {
          action: failure ? (rule.failureAction ?? action) : action,
          outcome: failure ? 'failure' : 'success',
          resource: rule.resource?.(params, res, req) ?? null,
          ...fromBody,
          details: { ...(rule.details?.(params, req) ?? {}), ...(fromBody.details ?? {}) },
        });
      } catch (err) {
        auditor.logger.error({ err, path: rule.path }, 'could not record an audit event');
      }
    });
    next();
  };
}
