import { IntervalFrequency, parseIsoDuration, ScheduleRequest } from '@im/contracts';
import {
  cronProblem,
  firstFireAt,
  formatIsoDuration,
  MISFIRE_GRACE_MS,
  nextAfter,
  planTick,
  scheduleSummary,
  timeZoneInfo,
  type ScheduleSpec,
} from './schedule.timeline';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const cron = (expr: string, timeZone = 'UTC'): ScheduleSpec => ({
  type: 'cron',
  cron: expr,
  intervalMs: null,
  timeZone,
});
const every = (minutes: number): ScheduleSpec => ({
  type: 'interval',
  cron: null,
  intervalMs: minutes * 60_000,
  timeZone: 'UTC',
});
/** The next `n` ticks after `from`. */
const ticks = (spec: ScheduleSpec, from: string, n: number) => {
  const out: (string | null)[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    const next = nextAfter(spec, t, t);
    out.push(iso(next));
    if (next === null) break;
    t = next;
  }
  return out;
};

describe('next fire times', () => {
  it('reads a 6-field cron expression with seconds, strictly after the given time', () => {
    expect(ticks(cron('30 */15 * * * ?'), '2026-11-28T10:00:00.000Z', 3)).toEqual([
      '2026-11-28T10:00:30.000Z',
      '2026-11-28T10:15:30.000Z',
      '2026-11-28T10:30:30.000Z',
    ]);
    // Exactly on a tick: the next one, not the same.
    expect(iso(nextAfter(cron('0 * * * * ?'), 0, at('2026-11-28T10:01:00.000Z')))).toBe(
      '2026-11-28T10:02:00.000Z',
    );
  });

  it('reads Quartz steps with a start (0/15, 5/20) like Quartz', () => {
    expect(ticks(cron('0 0/15 * * * ?'), '2026-11-28T10:00:00Z', 2)).toEqual([
      '2026-11-28T10:15:00.000Z',
      '2026-11-28T10:30:00.000Z',
    ]);
    expect(ticks(cron('0 5/20 * * * ?'), '2026-11-28T10:00:00Z', 3)).toEqual([
      '2026-11-28T10:05:00.000Z',
      '2026-11-28T10:25:00.000Z',
      '2026-11-28T10:45:00.000Z',
    ]);
  });

  it('reads Quartz day-of-week numbers (1 = Sunday), names, L, #, and a 7th year field', () => {
    // 2026-11-28 is a Saturday.
    expect(ticks(cron('0 0 12 ? * 2'), '2026-11-28T00:00:00Z', 1)).toEqual(['2026-11-30T12:00:00.000Z']);
    expect(ticks(cron('0 0 12 ? * MON-FRI'), '2026-11-28T00:00:00Z', 2)).toEqual([
      '2026-11-30T12:00:00.000Z',
      '2026-12-01T12:00:00.000Z',
    ]);
    expect(ticks(cron('0 0 12 L * ?'), '2026-11-28T00:00:00Z', 2)).toEqual([
      '2026-11-30T12:00:00.000Z',
      '2026-12-31T12:00:00.000Z',
    ]);
    expect(ticks(cron('0 0 12 ? * 5L'), '2026-11-28T00:00:00Z', 1)).toEqual(['2026-12-31T12:00:00.000Z']);
    expect(ticks(cron('0 0 12 ? * 6#3'), '2026-11-28T00:00:00Z', 1)).toEqual(['2026-12-18T12:00:00.000Z']);
    expect(ticks(cron('0 0 12 1 1 ? 2028'), '2026-11-28T00:00:00Z', 2)).toEqual([
      '2028-01-01T12:00:00.000Z',
      null,
    ]);
  });

  it('reads the expression in its time zone, across the spring-forward and fall-back days', () => {
    // Europe/Berlin: CET (+01:00) until 2026-03-29 02:00, then CEST (+02:00).
    expect(ticks(cron('0 0 9 * * ?', 'Europe/Berlin'), '2026-03-27T12:00:00Z', 3)).toEqual([
      '2026-03-28T08:00:00.000Z',
      '2026-03-29T07:00:00.000Z',
      '2026-03-30T07:00:00.000Z',
    ]);
    // 02:30 does not exist on 2026-03-29: it fires at the first valid time after the gap (03:00 CEST).
    expect(ticks(cron('0 30 2 * * ?', 'Europe/Berlin'), '2026-03-28T12:00:00Z', 2)).toEqual([
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ]);
    // 02:30 happens twice on 2026-10-25: it fires once, on the first.
    expect(ticks(cron('0 30 2 * * ?', 'Europe/Berlin'), '2026-10-24T12:00:00Z', 2)).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
    // An hourly schedule keeps firing every real hour through the fall-back night.
    expect(ticks(cron('0 0 * * * ?', 'Europe/Berlin'), '2026-10-24T23:30:00Z', 4)).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T02:00:00.000Z',
      '2026-10-25T03:00:00.000Z',
    ]);
  });

  it('keeps an interval on its grid: anchor + k × interval', () => {
    const anchor = at('2026-11-28T10:00:00Z');
    expect(iso(nextAfter(every(5), anchor, anchor))).toBe('2026-11-28T10:05:00.000Z');
    expect(iso(nextAfter(every(5), anchor, at('2026-11-28T10:12:34Z')))).toBe('2026-11-28T10:15:00.000Z');
    expect(iso(nextAfter(every(5), anchor, at('2026-11-28T10:15:00Z')))).toBe('2026-11-28T10:20:00.000Z');
    expect(iso(firstFireAt(every(5), at('2026-11-28T10:00:07Z')))).toBe('2026-11-28T10:05:07.000Z');
    expect(iso(firstFireAt(cron('0 0 * * * ?'), at('2026-11-28T10:00:07Z')))).toBe(
      '2026-11-28T11:00:00.000Z',
    );
  });
});

describe('misfire policies', () => {
  const due = at('2026-11-28T10:00:00Z');

  it('fires a late tick (within the grace) as usual and moves to the tick after it', () => {
    for (const policy of ['fire-once', 'skip'] as const) {
      const plan = planTick(cron('0 * * * * ?'), due, policy, due + MISFIRE_GRACE_MS);
      expect({ ...plan, next: iso(plan.next) }).toEqual({
        fire: true,
        missed: false,
        next: '2026-11-28T10:01:00.000Z',
      });
    }
  });

  it('fire-once: ticks missed during a downtime collapse into one run, then the schedule resumes', () => {
    const now = at('2026-11-28T13:20:30Z'); // down for 3 h 20 min of an hourly schedule
    const plan = planTick(cron('0 0 * * * ?'), due, 'fire-once', now);
    expect({ ...plan, next: iso(plan.next) }).toEqual({
      fire: true,
      missed: true,
      next: '2026-11-28T14:00:00.000Z',
    });
  });

  it('skip: missed ticks are dropped and the next fire is the next future tick', () => {
    const plan = planTick(cron('0 0 * * * ?'), due, 'skip', at('2026-11-28T13:20:30Z'));
    expect({ ...plan, next: iso(plan.next) }).toEqual({
      fire: false,
      missed: true,
      next: '2026-11-28T14:00:00.000Z',
    });
  });

  it('skip: the latest tick, when it is only late, still fires', () => {
    // Down from 10:00 to 10:05:30 on a per-minute schedule: 10:00–10:04 are missed, 10:05 is late.
    const plan = planTick(cron('0 * * * * ?'), due, 'skip', at('2026-11-28T10:05:30Z'));
    expect({ ...plan, next: iso(plan.next) }).toEqual({
      fire: true,
      missed: true,
      next: '2026-11-28T10:06:00.000Z',
    });
  });

  it('an interval resumes on its grid after a downtime', () => {
    const plan = planTick(every(10), due, 'fire-once', at('2026-11-28T10:47:00Z'));
    expect(iso(plan.next)).toBe('2026-11-28T10:50:00.000Z');
    expect(plan.fire).toBe(true);
    expect(planTick(every(10), due, 'skip', at('2026-11-28T10:47:00Z')).fire).toBe(false);
  });
});

describe('schedule validation', () => {
  const now = at('2026-11-28T10:00:00Z');

  it('accepts a once-a-minute cron expression and refuses one that fires more often', () => {
    expect(cronProblem('0 * * * * ?', 'UTC', now)).toBeUndefined();
    expect(cronProblem('*/10 * * * * ?', 'UTC', now)).toMatch(/more than once a minute/);
    expect(cronProblem('* 0 12 * * ?', 'UTC', now)).toMatch(/more than once a minute/);
    expect(cronProblem('0,30 0 12 1 1 ?', 'UTC', now)).toMatch(/more than once a minute/);
    expect(cronProblem('0/30 * * * * ?', 'UTC', now)).toMatch(/more than once a minute/);
  });

  it('refuses a cron expression that does not parse or never fires', () => {
    expect(cronProblem('0 0 25 * * ?', 'UTC', now)).toMatch(/not a valid cron expression.*hour/);
    expect(cronProblem('0 0 12 * * ? 2020', 'UTC', now)).toBe('never fires from now on');
    expect(cronProblem('0 0 12 30 2 ?', 'UTC', now)).toBe('never fires from now on');
  });

  const errors = (body: unknown) => {
    const r = ScheduleRequest.safeParse(body);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('needs the field of its type, an IANA time zone, and an interval of at least a minute', () => {
    expect(errors({ type: 'cron', cronSchedule: '0 0 12 * * ?', timeZone: 'Europe/Berlin' })).toEqual([]);
    expect(errors({ type: 'interval', intervalFrequency: 'PT1M' })).toEqual([]);
    expect(errors({ type: 'cron' })).toEqual(['cronSchedule: is required for type cron']);
    expect(errors({ type: 'interval', intervalFrequency: 'PT30S' })).toEqual([
      'intervalFrequency: must be at least one minute (PT1M)',
    ]);
    expect(errors({ type: 'interval', intervalFrequency: '5' })[0]).toMatch(
      /^intervalFrequency: must be an ISO-8601/,
    );
    expect(errors({ type: 'cron', cronSchedule: '0 0 12 * *' })[0]).toMatch(
      /^cronSchedule: must have 6 fields/,
    );
    expect(errors({ type: 'cron', cronSchedule: '0 0 12 * * ?', timeZone: 'Mars/Olympus' })).toEqual([
      'timeZone: must be an IANA time zone id such as UTC or Europe/Berlin',
    ]);
    expect(errors({ type: 'daily' })[0]).toMatch(/^type:/);
  });

  it('reads and writes ISO-8601 durations', () => {
    expect(parseIsoDuration('PT5M')).toBe(300_000);
    expect(parseIsoDuration('p1dt12h')).toBe(36 * 3600_000);
    expect(parseIsoDuration('P1W')).toBe(7 * 86400_000);
    for (const bad of ['P', 'PT', 'P1M', '5M', 'PT5.5M', '']) expect(parseIsoDuration(bad)).toBeUndefined();
    expect(formatIsoDuration(90 * 60_000)).toBe('PT1H30M');
    expect(formatIsoDuration(86400_000 + 61_000)).toBe('P1DT1M1S');
    expect(IntervalFrequency.safeParse('P367D').success).toBe(false);
  });

  it('describes time zones and summarises schedules', () => {
    expect(timeZoneInfo('Europe/Berlin', at('2026-01-15T00:00:00Z'))).toEqual({
      displayName: 'Central European Time',
      offset: '+01:00',
    });
    expect(timeZoneInfo('Europe/Berlin', at('2026-07-15T00:00:00Z')).offset).toBe('+02:00');
    expect(timeZoneInfo('UTC', now).offset).toBe('+00:00');
    expect(scheduleSummary(cron('0 0 6 ? * MON-FRI', 'Europe/Berlin'))).toBe(
      'cron 0 0 6 ? * MON-FRI Europe/Berlin',
    );
    expect(scheduleSummary(every(90))).toBe('interval PT1H30M');
  });
});
