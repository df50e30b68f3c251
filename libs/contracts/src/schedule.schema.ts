import { IsoDateTime } from './common.schema';
import { z } from './zod';

/**
 * The schedule of a job configuration (`/jobconfigs/{id}/schedule`): a Quartz-style cron expression
 * with seconds in a time zone, or a fixed interval. It fires at most once a minute. The cron
 * expression's syntax is checked by the jobconfig service (with its cron library); here only its shape.
 */

/** Fewest milliseconds between two fires of a schedule. */
export const MIN_SCHEDULE_INTERVAL_MS = 60_000;
/** Longest interval accepted. */
export const MAX_SCHEDULE_INTERVAL_MS = 366 * 24 * 3600_000;

export const ScheduleType = z.enum(['cron', 'interval']);
export type ScheduleType = z.infer<typeof ScheduleType>;

/**
 * What happens to ticks missed while no jobconfig instance ran (a tick is missed when it is more than
 * a minute overdue; less is just late and fires as usual): `fire-once` runs the job once at once for
 * all of them, then the schedule resumes; `skip` drops them and waits for the next tick.
 */
export const MisfirePolicy = z.enum(['fire-once', 'skip']).openapi({
  description:
    'Ticks more than 60 s overdue (the platform was down) are missed. `fire-once` (default): they collapse into one immediate run; `skip`: they are dropped, the next run is the next future tick.',
});
export type MisfirePolicy = z.infer<typeof MisfirePolicy>;

const ISO_DURATION = /^P(?!$)(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/** Milliseconds of an ISO-8601 duration made of weeks, days, hours, minutes and seconds (`PT5M`, `P1DT12H`); undefined for anything else. */
export function parseIsoDuration(s: string): number | undefined {
  const m = ISO_DURATION.exec(s.trim().toUpperCase());
  if (!m) return undefined;
  const [w, d, h, min, sec] = m.slice(1).map((v) => Number(v ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return ((((w * 7 + d) * 24 + h) * 60 + min) * 60 + sec) * 1000;
}

/** True when the runtime knows the IANA time zone id. */
export function isKnownTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const IntervalFrequency = z
  .string()
  .max(64)
  .superRefine((s, ctx) => {
    const ms = parseIsoDuration(s);
    if (ms === undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'must be an ISO-8601 duration of weeks, days, hours, minutes, seconds, e.g. PT5M or P1DT12H',
      });
    else if (ms < MIN_SCHEDULE_INTERVAL_MS)
      ctx.addIssue({ code: 'custom', message: 'must be at least one minute (PT1M)' });
    else if (ms > MAX_SCHEDULE_INTERVAL_MS)
      ctx.addIssue({ code: 'custom', message: 'must be at most 366 days (P366D)' });
  })
  .openapi({ description: 'ISO-8601 duration, at least PT1M, at most P366D.', example: 'PT15M' });

export const CronSchedule = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(255)
  .refine((s) => [6, 7].includes(s.split(/\s+/).length), {
    message: 'must have 6 fields (second minute hour day-of-month month day-of-week) or 7 (with year)',
  })
  .openapi({
    description:
      'Quartz-style: `second minute hour day-of-month month day-of-week [year]`; `?`, `L`, `W`, `#`, names (MON, JAN) allowed; day-of-week 1 = Sunday … 7 = Saturday. Fires at most once a minute.',
    example: '0 0 6 ? * MON-FRI',
  });

export const TimeZoneId = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .refine(isKnownTimeZone, { message: 'must be an IANA time zone id such as UTC or Europe/Berlin' })
  .openapi({ example: 'Europe/Berlin' });

export const ScheduleRequest = z
  .object({
    name: z.string().trim().max(255).nullable().optional(),
    type: ScheduleType,
    cronSchedule: CronSchedule.nullable().optional(),
    intervalFrequency: IntervalFrequency.nullable().optional(),
    description: z.string().max(4096).nullable().optional(),
    timeZone: TimeZoneId.nullable()
      .optional()
      .openapi({ description: 'IANA id the cron expression is read in; default UTC.' }),
    misfirePolicy: MisfirePolicy.nullable().optional(),
  })
  .superRefine((s, ctx) => {
    const cron = s.cronSchedule !== undefined && s.cronSchedule !== null;
    const interval = s.intervalFrequency !== undefined && s.intervalFrequency !== null;
    if (s.type === 'cron') {
      if (!cron)
        ctx.addIssue({ code: 'custom', path: ['cronSchedule'], message: 'is required for type cron' });
      if (interval)
        ctx.addIssue({ code: 'custom', path: ['intervalFrequency'], message: 'must be empty for type cron' });
    } else {
      if (!interval)
        ctx.addIssue({
          code: 'custom',
          path: ['intervalFrequency'],
          message: 'is required for type interval',
        });
      if (cron)
        ctx.addIssue({ code: 'custom', path: ['cronSchedule'], message: 'must be empty for type interval' });
    }
  })
  .openapi('ScheduleRequest');
export type ScheduleRequest = z.infer<typeof ScheduleRequest>;

export const ScheduleResponse = z
  .object({
    href: z.string(),
    name: z.string().nullable(),
    type: ScheduleType,
    cronSchedule: z.string().nullable(),
    intervalFrequency: z.string().nullable(),
    nextFireTime: IsoDateTime.nullable().openapi({
      description: 'When it fires next; null when a cron expression never fires again.',
    }),
    description: z.string().nullable(),
    timeZone: z.string(),
    timeZoneDisplayName: z.string().openapi({ example: 'Central European Time' }),
    timeZoneOffset: z.string().openapi({ description: 'UTC offset now, e.g. +01:00.', example: '+01:00' }),
    misfirePolicy: MisfirePolicy,
    resourceId: z.string().openapi({ description: 'The job configuration id.' }),
    resourceType: z.literal('jobconfig'),
  })
  .openapi('ScheduleResponse');
export type ScheduleResponse = z.infer<typeof ScheduleResponse>;
