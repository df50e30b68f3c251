import { silentLogger } from '@im/logging';
import type { EventBus, Subscription } from '@im/messaging';
import { waitFor } from '@im/testing';
import type { AuditRepository } from './audit.repository';
import { keepAuditStore } from './audit.store';

describe('keepAuditStore', () => {
  it('never fails the start: retries subscribing in the background until the bus answers', async () => {
    let calls = 0;
    const closed: string[] = [];
    const bus = {
      subscribe: async (): Promise<Subscription> => {
        if (++calls < 3) throw new Error('ECONNREFUSED');
        return { close: async () => void closed.push('sub') };
      },
    } as unknown as EventBus;
    const store = keepAuditStore(bus, {} as AuditRepository, silentLogger(), { retryMs: 10 });
    await expect(store.ready).resolves.toBeUndefined();
    await waitFor(async () => calls >= 3 || undefined, { timeoutMs: 2000, what: 'the third attempt' });
    await store.close();
    expect(closed).toEqual(['sub']);
  });

  it('stops retrying once closed', async () => {
    let calls = 0;
    const bus = {
      subscribe: async () => {
        calls++;
        throw new Error('down');
      },
    } as unknown as EventBus;
    const store = keepAuditStore(bus, {} as AuditRepository, silentLogger(), { retryMs: 10 });
    await store.ready;
    await store.close();
    const after = calls;
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(after);
  });
});
