import { listEnvelope, ListQuery } from './common.schema';
import { z } from './zod';

/**
 * What an audit event records. `login.*` by auth; `user.*` by auth; `jobconfig.*`, `schedule.*`,
 * `macro.*` and `job.*` by jobconfig; `file.*` by file-storage. Names are stable: add, never rename.
 */
export const AUDIT_ACTIONS = [
  'login.succeeded',
  'login.failed',
  'user.created',
  'user.updated',
  'user.password-changed',
  'account.created',
  'jobconfig.created',
  'jobconfig.updated',
  'jobconfig.deleted',
  'schedule.updated',
  'schedule.deleted',
  'macro.created',
  'macro.updated',
  'macro.deleted',
  'macro.confirmed',
  'file.stored',
  'file.deleted',
  'job.submitted',
  'job.cancelled',
] as const;
export const AuditAction = z.enum(AUDIT_ACTIONS);
export type AuditAction = z.infer<typeof AuditAction>;

export const AuditOutcome = z.enum(['success', 'failure']);
export type AuditOutcome = z.infer<typeof AuditOutcome>;

/** Details: a few small scalars (names, counts, a status), never a secret, a macro value or a password. */
export const AuditDetails = z
  .record(z.string().max(64), z.union([z.string().max(256), z.number(), z.boolean(), z.null()]))
  .refine((d) => Object.keys(d).length <= 16, 'at most 16 details');

/**
 * Internal topic `audit.events`: who did what, when, from where, with what outcome. Published
 * best-effort by the service where the change happened; auth stores it for `GET /api/audit`.
 */
export const AuditEvent = z
  .object({
    /** Unique per event (a UUID): consumers store each id once, so a redelivery is harmless. */
    id: z.string().min(1).max(64),
    time: z.string().openapi({ description: 'When it happened (ISO-8601, UTC).' }),
    /** The caller, from their access token; null when nobody was authenticated (a failed login). */
    actor: z.object({ id: z.string().max(64), name: z.string().max(128) }).nullable(),
    /** The caller's account (tenant); null when unknown (a failed login). */
    accountId: z.string().max(64).nullable(),
    action: AuditAction,
    resource: z.object({ type: z.string().max(32), id: z.string().max(512) }).nullable(),
    outcome: AuditOutcome,
    /** The client's address as the gateway saw it (behind trusted proxies: the original client). */
    sourceIp: z.string().max(64).nullable(),
    requestId: z.string().max(128).nullable(),
    /** The service that recorded it. */
    service: z.string().max(32),
    details: AuditDetails,
  })
  .openapi('AuditEvent');
export type AuditEvent = z.infer<typeof AuditEvent>;

export const AuditEventList = listEnvelope(AuditEvent, 'AuditEventList');

/** `GET /api/audit`: paged like every list (newest first by default), filtered by these fields. */
export const AuditQuery = ListQuery.extend({
  action: AuditAction.optional().openapi({ description: 'Only this action.' }),
  actorId: z.string().max(64).optional().openapi({ description: "Only this user's actions." }),
  resourceType: z.string().max(32).optional(),
  resourceId: z.string().max(512).optional(),
  outcome: AuditOutcome.optional(),
  from: z.iso.datetime({ offset: true }).optional().openapi({ description: 'At or after (ISO-8601).' }),
  to: z.iso.datetime({ offset: true }).optional().openapi({ description: 'Before (ISO-8601).' }),
});
export type AuditQuery = z.infer<typeof AuditQuery>;
