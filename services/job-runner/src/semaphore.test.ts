import { Semaphore } from './semaphore';

describe('Semaphore', () => {
  it('grants up to its size, then serves waiters in order as slots are released', async () => {
    const s = new Semaphore(2);
    const a = await s.acquire();
    const b = await s.acquire();
    expect(s.available).toBe(0);
    const order: string[] = [];
    const c = s.acquire().then((r) => (order.push('c'), r));
    const d = s.acquire().then((r) => (order.push('d'), r));
    expect(s.waiting).toBe(2);
    a?.();
    a?.(); // a second release of the same slot is ignored
    const rc = await c;
    expect(order).toEqual(['c']);
    b?.();
    const rd = await d;
    expect(order).toEqual(['c', 'd']);
    rc?.();
    rd?.();
    expect(s.available).toBe(2);
  });

  it('answers null to waiters when the signal aborts, and frees nothing', async () => {
    const s = new Semaphore(1);
    const held = await s.acquire();
    const ac = new AbortController();
    const waiting = s.acquire(ac.signal);
    ac.abort();
    await expect(waiting).resolves.toBeNull();
    expect(s.waiting).toBe(0);
    expect(await s.acquire(ac.signal)).toBeNull();
    held?.();
    expect(s.available).toBe(1);
  });

  it('refuses a size below one', () => {
    expect(() => new Semaphore(0)).toThrow(/at least one slot/);
  });
});
