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

/**
 * Keeps the audit store subscribed without making the auth service depend on the bus to start:
 * logging in must work while Kafka is down. The first attempt is awaited; when it fails it is
 * retried every `retryMs` in the background until it succeeds or `close()` is called.
 */
export function keepAuditStore(
  bus: EventBus,
  repo: AuditRepository,
  logger: Logger,
  options: { groupId?: string; retryMs?: number } = {},
): { ready: Promise<void>; close(): Promise<void> } {
  let sub: Subscription | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const attempt = async (): Promise<void> => {
    try {
      const s = await startAuditStore(bus, repo, logger, options.groupId);
      if (closed) await s.close();
      else sub = s;
    } catch (err) {
      if (closed) return;
      logger.error(
        { err, retryInMs: options.retryMs ?? 5000 },
        'could not subscribe to the audit events; retrying (events wait on the topic meanwhile)',
      );
      timer = setTimeout(() => void attempt(), options.retryMs ?? 5000);
      timer.unref();
    }
  };
  return {
    ready: attempt(),
    async close() {
      closed = true;
      clearTimeout(timer);
      await sub?.close();
    },
  };
}
