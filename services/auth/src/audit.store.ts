import type { Logger } from '@im/logging';
import type { EventBus, Subscription } from '@im/messaging';
import type { AuditRepository } from './audit.repository';

/** Consumer group that stores the audit trail (one per deployment). */
export const AUDIT_GROUP_ID = 'auth.audit';

/**
 * Stores every audit event published on `audit.events` (by auth, jobconfig and file-storage), once
 * per event id, so a redelivery after a crash or a rebalance adds nothing.
 */
export async function startAuditStore(
  bus: EventBus,
  repo: AuditRepository,
  logger: Logger,
  groupId = AUDIT_GROUP_ID,
): Promise<Subscription> {
  return bus.subscribe({
    groupId,
    topic: 'audit.events',
    concurrency: 4,
    handler: async (e) => {
      await repo.insert(e);
      logger.debug({ auditId: e.id, action: e.action }, 'audit event stored');
    },
  });
}
