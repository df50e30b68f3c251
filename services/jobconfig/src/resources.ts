import { isTerminal, packagePrefix, type Job, type JobConfig, type MacroResource } from '@im/contracts';
import type { HrefBuilder } from '@im/http-kit';
import type { JobConfigRecord, StoredMacro } from './job-config.repository';
import type { JobRecord } from './job.repository';

const iso = (ms: number) => new Date(ms).toISOString();

/** `sched`: the configuration's schedule, if it has one (its summary wins over the stored free text). */
export function toJobConfigResource(
  c: JobConfigRecord,
  href: HrefBuilder,
  sched?: { summary: string; nextFireAt: number | null },
): JobConfig {
  const user = (u: { id: string; name: string }) => ({
    id: u.id,
    name: u.name,
    href: href(`/api/users/${u.id}`),
  });
  return {
    id: c.id,
    href: href(`/api/jobconfigs/${c.id}`),
    active: c.active,
    name: c.name,
    description: c.description,
    user: user({ id: c.ownerId, name: c.ownerName }),
    runtimeConfig: {
      packageName: c.packageName,
      entryPoint: c.entryPoint,
      packagePrefix: packagePrefix(c.id),
      packageArtifactOverride: c.packageArtifactOverride,
      logLevel: c.logLevel,
      // A secure macro's value is write-only: it never leaves the service.
      macros: c.macros.map((m) =>
        m.secure
          ? { key: m.key, secure: true, description: m.description }
          : { key: m.key, value: m.value, secure: false, description: m.description },
      ),
    },
    timeout: c.timeoutMinutes,
    blocking: c.blocking,
    maxAttempts: c.maxAttempts,
    schedule: sched ? sched.summary : c.schedule,
    nextFireTime: sched && sched.nextFireAt !== null ? iso(sched.nextFireAt) : null,
    tags: c.tags,
    created: iso(c.createdAt),
    createdByUser: user(c.createdBy),
    lastModified: iso(c.updatedAt),
    lastModifiedByUser: user(c.updatedBy),
  };
}

/** A macro of a configuration; a secure macro's value never leaves the service. */
export function toMacroResource(jobConfigId: string, m: StoredMacro, href: HrefBuilder): MacroResource {
  return {
    key: m.key,
    name: m.key,
    href: href(`/api/jobconfigs/${jobConfigId}/macros/${encodeURIComponent(m.key)}`),
    ...(m.secure ? {} : { value: m.value }),
    secure: m.secure,
    description: m.description,
  };
}

export function toJobResource(j: JobRecord, href: HrefBuilder): Job {
  const user = (u: { id: string; name: string }) => ({
    id: u.id,
    name: u.name,
    href: href(`/api/users/${u.id}`),
  });
  return {
    id: j.id,
    href: href(`/api/jobs/${j.id}`),
    status: j.status,
    reason: j.reason,
    scheduled: iso(j.scheduledAt),
    started: j.startedAt === null ? null : iso(j.startedAt),
    finished: j.finishedAt === null ? null : iso(j.finishedAt),
    duration:
      j.startedAt !== null && j.finishedAt !== null && isTerminal(j.status)
        ? j.finishedAt - j.startedAt
        : null,
    returnCode: j.returnCode,
    attempt: j.attempt,
    currentStep: j.currentStep,
    stoppedByUser: j.stoppedBy ? user(j.stoppedBy) : null,
    finalDestinationId: '1',
    packageName: j.packageName,
    entryPoint: j.entryPoint,
    jobConfig: { id: j.jobConfigId, name: j.jobConfigName, href: href(`/api/jobconfigs/${j.jobConfigId}`) },
    submittedByUser: user(j.submittedBy),
    jobLog: { href: href(`/api/jobs/${j.id}/log`) },
    tags: j.tags,
  };
}
