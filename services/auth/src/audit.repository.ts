import type { AuditEvent, AuditQuery } from '@im/contracts';
import { fetchPage, type Knex, type PageResult } from '@im/db';

interface AuditRow {
  id: string;
  occurred_at: number | string;
  actor_id: string | null;
  actor_name: string | null;
  account_id: string | null;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  outcome: string;
  source_ip: string | null;
  request_id: string | null;
  service: string;
  details: string;
}

function toEvent(r: AuditRow): AuditEvent {
  return {
    id: r.id,
    time: new Date(Number(r.occurred_at)).toISOString(),
    actor: r.actor_id !== null ? { id: r.actor_id, name: r.actor_name ?? '' } : null,
    accountId: r.account_id,
    action: r.action as AuditEvent['action'],
    resource: r.resource_type !== null ? { type: r.resource_type, id: r.resource_id ?? '' } : null,
    outcome: r.outcome as AuditEvent['outcome'],
    sourceIp: r.source_ip,
    requestId: r.request_id,
    service: r.service,
    details: JSON.parse(r.details) as AuditEvent['details'],
  };
}

/** Public sort fields → columns. */
const SORTABLE = {
  time: 'occurred_at',
  action: 'action',
  actorId: 'actor_id',
  resourceType: 'resource_type',
  outcome: 'outcome',
};

/** Which events a reader may see: those of one account, and those of no account (failed logins) or not. */
export interface AuditScope {
  accountId: string;
  includeUnattributed: boolean;
}

/** The audit trail auth keeps (table audit_events). */
export class AuditRepository {
  constructor(private readonly db: Knex) {}

  /** Stores an event once: a redelivered event (same id) is ignored. */
  async insert(e: AuditEvent): Promise<void> {
    await this.db('audit_events')
      .insert({
        id: e.id,
        occurred_at: Date.parse(e.time),
        actor_id: e.actor?.id ?? null,
        actor_name: e.actor?.name ?? null,
        account_id: e.accountId,
        action: e.action,
        resource_type: e.resource?.type ?? null,
        resource_id: e.resource?.id ?? null,
        outcome: e.outcome,
        source_ip: e.sourceIp,
        request_id: e.requestId,
        service: e.service,
        details: JSON.stringify(e.details),
      })
      .onConflict('id')
      .ignore();
  }

  async page(scope: AuditScope, q: AuditQuery): Promise<PageResult<AuditEvent>> {
    const query = this.db<AuditRow>('audit_events').where((w) => {
      void w.where('account_id', scope.accountId);
      if (scope.includeUnattributed) void w.orWhereNull('account_id');
    });
    if (q.action) void query.where('action', q.action);
    if (q.actorId) void query.where('actor_id', q.actorId);
    if (q.resourceType) void query.where('resource_type', q.resourceType);
    if (q.resourceId) void query.where('resource_id', q.resourceId);
    if (q.outcome) void query.where('outcome', q.outcome);
    if (q.from) void query.where('occurred_at', '>=', Date.parse(q.from));
    if (q.to) void query.where('occurred_at', '<', Date.parse(q.to));
    // Newest first unless the caller sorts otherwise.
    const page = await fetchPage<AuditRow>(
      query,
      {
        page: q.offset,
        size: q.size,
        sortby: q.sortby ?? 'time',
        direction: q.sortby ? q.direction : 'desc',
      },
      SORTABLE,
      'id',
    );
    return { rows: page.rows.map(toEvent), total: page.total };
  }
}
