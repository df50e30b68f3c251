export interface IpThrottleSettings {
  /** Failed logins for one key within `windowSeconds` before it is locked out. */
  maxFailures: number;
  windowSeconds: number;
  /** How long a locked-out key is refused, seconds. */
  lockoutSeconds: number;
  /** Keys tracked at most; the oldest are forgotten first, so memory stays bounded. */
  maxEntries?: number;
}

/** The growing delay per user name: doubling from `baseMs` with each failure, up to `maxMs` (0: none). */
export interface LoginDelaySettings {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_LOGIN_DELAY: LoginDelaySettings = { baseMs: 250, maxMs: 4000 };

/** How long a login for a name waits after `failures` recent failures for it (0 with none). */
export function failedLoginDelayMs(failures: number, s: LoginDelaySettings): number {
  if (failures <= 0 || s.maxMs <= 0) return 0;
  // 2^20 × base is past any sensible maximum; the exponent is capped so the number stays finite.
  return Math.min(s.maxMs, s.baseMs * 2 ** Math.min(failures - 1, 20));
}

interface Entry {
  windowStart: number;
  failures: number;
  lockedUntil: number;
}

/**
 * Failed logins per key, in memory (one count per auth replica: with N replicas a key gets up to N
 * times the limit before all of them lock it out). A fixed window per key; reaching the limit locks
 * the key for `lockoutSeconds`. Keys are a client address (refused with 429 before any password is
 * checked), a user name with a client address (that pair refused with the usual 401), or a user name
 * (how long its next login waits: failedLoginDelayMs).
 */
export class FailedLoginCounter {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;

  constructor(
    private readonly settings: IpThrottleSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.maxEntries = settings.maxEntries ?? 100_000;
  }

  /** Seconds until `key` may log in again, or 0 when it may now. */
  retryAfterSeconds(key: string): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    const left = e.lockedUntil - this.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Failures of `key` in its current window (0 once the window has passed). */
  failures(key: string): number {
    const e = this.entries.get(key);
    return e && this.now() - e.windowStart < this.settings.windowSeconds * 1000 ? e.failures : 0;
  }

  /** Counts a failed login of `key`; locks it once the window's limit is reached. */
  recordFailure(key: string): void {
    const now = this.now();
    let e = this.entries.get(key);
    if (!e || now - e.windowStart >= this.settings.windowSeconds * 1000) {
      e = { windowStart: now, failures: 0, lockedUntil: e && e.lockedUntil > now ? e.lockedUntil : 0 };
    }
    e.failures += 1;
    if (e.failures >= this.settings.maxFailures) {
      e.lockedUntil = now + this.settings.lockoutSeconds * 1000;
      e.failures = 0;
      e.windowStart = now;
    }
    // Re-inserted so the Map's order is least recently failed first; the oldest go when it is full.
    this.entries.delete(key);
    this.entries.set(key, e);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Forgets `key` (a successful login of that user from that address). */
  clear(key: string): void {
    this.entries.delete(key);
  }

  /** Keys tracked now (tests, metrics). */
  get size(): number {
    return this.entries.size;
  }
}
