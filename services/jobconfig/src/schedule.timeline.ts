import { MIN_SCHEDULE_INTERVAL_MS, type MisfirePolicy, type ScheduleType } from '@im/contracts';
import { Cron, CronPattern, type CronOptions } from 'croner';

/** A tick at most this overdue is late and fires as usual; a tick more overdue was missed (docs/api.md). */
export const MISFIRE_GRACE_MS = 60_000;

/**
 * Quartz reading of a cron expression: 6 fields with seconds, or 7 with a year; `?`, `L`, `W`, `#`,
 * day-of-week 1 = Sunday … 7 = Saturday, and Quartz's `0/15` steps.
 */
const CRON_OPTIONS = {
  mode: '6-or-7-parts',
  alternativeWeekdays: true,
  sloppyRanges: true,
} as const satisfies CronOptions;

/** When a schedule fires: a cron expression in a time zone, or a fixed interval. */
export interface ScheduleSpec {
  type: ScheduleType;
  cron: string | null;
  intervalMs: number | null;
  timeZone: string;
}

function cronOf(spec: ScheduleSpec): Cron {
  return new Cron(spec.cron ?? '', { ...CRON_OPTIONS, timezone: spec.timeZone, paused: true });
}

/**
 * Why a cron expression cannot be a schedule (it does not parse, fires more than once a minute, or
 * never fires after `now`), or undefined when it can.
 */
export function cronProblem(expr: string, timeZone: string, now: number): string | undefined {
  let pattern: CronPattern;
  try {
    pattern = new CronPattern(expr, timeZone, CRON_OPTIONS);
  } catch (err) {
    return `is not a valid cron expression: ${(err as Error).message.replace(/^CronPattern:\s*/, '')}`;
  }
  // Seconds are the only field finer than a minute: two of them fire twice within one minute.
  if (pattern.second.filter(Boolean).length > 1)
    return `fires more than once a minute; a schedule fires at most once every ${MIN_SCHEDULE_INTERVAL_MS / 1000} s (set the seconds field to one value, e.g. 0)`;
  if (nextAfter({ type: 'cron', cron: expr, intervalMs: null, timeZone }, now, now) === null)
    return 'never fires from now on';
  return undefined;
}

/**
 * The first tick strictly after `t`. An interval's ticks are `anchor + k × interval` (its previous
 * tick is the anchor, so the grid never drifts); a cron expression's are its own. Null when a cron
 * expression never fires again (a past year).
 */
export function nextAfter(spec: ScheduleSpec, anchor: number, t: number): number | null {
  if (spec.type === 'interval') {
    const every = spec.intervalMs as number;
    if (t < anchor) return anchor;
    return anchor + (Math.floor((t - anchor) / every) + 1) * every;
  }
  return cronOf(spec).nextRun(new Date(t))?.getTime() ?? null;
}

/** The first fire of a new (or replaced) schedule: the next cron tick, or one interval from now. */
export function firstFireAt(spec: ScheduleSpec, now: number): number | null {
  return spec.type === 'interval' ? now + (spec.intervalMs as number) : nextAfter(spec, now, now);
}

export interface TickPlan {
  /** Submit one job now. */
  fire: boolean;
  /** The tick to wait for next (null: never again). */
  next: number | null;
  /** The due tick was more than the grace overdue. */
  missed: boolean;
}

/**
 * What to do with a schedule whose tick `due` has come (`due <= now`). A tick at most
 * {@link MISFIRE_GRACE_MS} overdue fires; the next is the tick after it. A tick more overdue was
 * missed (nothing ran while it came): `fire-once` runs once for all the missed ticks and continues with
 * the first tick after now; `skip` drops them, except a tick that is still within the grace of now,
 * which is only late and fires.
 */
export function planTick(spec: ScheduleSpec, due: number, policy: MisfirePolicy, now: number): TickPlan {
  if (now - due <= MISFIRE_GRACE_MS) return { fire: true, next: nextAfter(spec, due, due), missed: false };
  const next = nextAfter(spec, due, now);
  if (policy === 'fire-once') return { fire: true, next, missed: true };
  const latest = nextAfter(spec, due, now - MISFIRE_GRACE_MS - 1); // the first tick >= now - grace
  return { fire: latest !== null && latest <= now, next, missed: true };
}

/** An interval as an ISO-8601 duration in days, hours, minutes and seconds (`PT15M`, `P1DT12H`). */
export function formatIsoDuration(ms: number): string {
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const time = `${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s ? `${s}S` : ''}`;
  return d || time ? `P${d ? `${d}D` : ''}${time ? `T${time}` : ''}` : 'PT0S';
}

/** A time zone's long name ("Central European Time") and its UTC offset at `at` ("+01:00"). */
export function timeZoneInfo(timeZone: string, at: number): { displayName: string; offset: string } {
  const part = (style: 'longGeneric' | 'longOffset') =>
    new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: style })
      .formatToParts(new Date(at))
      .find((p) => p.type === 'timeZoneName')?.value ?? '';
  const gmt = part('longOffset'); // "GMT+01:00", or "GMT" for UTC itself
  return { displayName: part('longGeneric') || timeZone, offset: gmt === 'GMT' ? '+00:00' : gmt.slice(3) };
}

/** A one-line summary for the configuration's `schedule` field. */
export function scheduleSummary(spec: ScheduleSpec): string {
  return spec.type === 'cron'
    ? `cron ${spec.cron ?? ''} ${spec.timeZone}`
    : `interval ${formatIsoDuration(spec.intervalMs as number)}`;
}
