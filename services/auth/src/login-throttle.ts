export interface IpThrottleSettings {
  /** Failed logins from one client address within `windowSeconds` before it is locked out. */
  maxFailures: number;
  windowSeconds: number;
  /** How long a locked-out address is refused, seconds. */
  lockoutSeconds: number;
  /** Addresses tracked at most; the oldest are forgotten first, so memory stays bounded. */
  maxEntries?: number;
}

interface Entry {
  windowStart: number;
  failures: number;
  lockedUntil: number;
}

/**
 * Failed logins per client address, in memory (one count per auth replica: with N replicas an address
 * gets up to N times the limit before all of them lock it out). A fixed window per address; reaching
 * the limit locks the address for `lockoutSeconds`, during which its logins are refused before any
 * password is checked. Successful logins do not clear the count, so a valid account cannot be used to
 * reset it between guesses.
 */
export class IpLoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;

  constructor(
    private readonly settings: IpThrottleSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.maxEntries = settings.maxEntries ?? 100_000;
  }

  /** Seconds until `ip` may log in again, or 0 when it may now. */
  retryAfterSeconds(ip: string): number {
    const e = this.entries.get(ip);
    if (!e) return 0;
    const left = e.lockedUntil - this.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Counts a failed login from `ip`; locks it once the window's limit is reached. */
  recordFailure(ip: string): void {
    const now = this.now();
    let e = this.entries.get(ip);
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
    this.entries.delete(ip);
    this.entries.set(ip, e);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Addresses tracked now (tests, metrics). */
  get size(): number {
    return this.entries.size;
  }
}
