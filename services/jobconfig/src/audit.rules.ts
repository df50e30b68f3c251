import { idFromLocation, type AuditRule } from '@im/http-kit';
import type { Request } from 'express';

const config = (p: Record<string, string>) => ({ type: 'jobconfig', id: p.id ?? '' });

/** A configuration's name and whether it is active: never its macros or anything else of the body. */
function configDetails(_p: Record<string, string>, req: Request) {
  const b = (req.body ?? {}) as { name?: unknown; active?: unknown };
  return {
    ...(typeof b.name === 'string' ? { name: b.name } : {}),
    ...(typeof b.active === 'boolean' ? { active: b.active } : {}),
  };
}

/** A macro's name and whether it is secure: never its value. */
function macroDetails(p: Record<string, string>, req: Request) {
  const b = (req.body ?? {}) as { key?: unknown; name?: unknown; secure?: unknown };
  const name = p.name ?? (typeof b.key === 'string' ? b.key : typeof b.name === 'string' ? b.name : null);
  return {
    jobConfigId: p.id ?? null,
    name,
    ...(typeof b.secure === 'boolean' ? { secure: b.secure } : {}),
  };
}

const macro = (p: Record<string, string>, req: Request) => ({
  type: 'macro',
  id: `${p.id ?? ''}/${macroDetails(p, req).name ?? ''}`,
});

/** What jobconfig records (docs/security.md, "Audit"). */
export const JOBCONFIG_AUDIT_RULES: AuditRule[] = [
  {
    method: 'POST',
    path: '/api/jobconfigs',
    action: 'jobconfig.created',
    resource: (_p, res) => ({ type: 'jobconfig', id: idFromLocation(res) ?? '' }),
    details: configDetails,
  },
  {
    method: 'PUT',
    path: '/api/jobconfigs/:id',
    action: 'jobconfig.updated',
    resource: config,
    details: configDetails,
  },
  {
    method: 'PATCH',
    path: '/api/jobconfigs/:id',
    action: 'jobconfig.updated',
    resource: config,
    details: configDetails,
  },
  { method: 'DELETE', path: '/api/jobconfigs/:id', action: 'jobconfig.deleted', resource: config },
  { method: 'PUT', path: '/api/jobconfigs/:id/schedule', action: 'schedule.updated', resource: config },
  { method: 'POST', path: '/api/jobconfigs/:id/schedule', action: 'schedule.updated', resource: config },
  { method: 'DELETE', path: '/api/jobconfigs/:id/schedule', action: 'schedule.deleted', resource: config },
  // Secure values confirmed for the code the configuration runs now (ADR 0016).
  {
    method: 'POST',
    path: '/api/jobconfigs/:id/macrobindings',
    action: 'macro.confirmed',
    resource: config,
  },
  {
    method: 'POST',
    path: '/api/jobconfigs/:id/macros',
    action: 'macro.created',
    resource: (p, _res, req) => macro(p, req),
    details: macroDetails,
  },
  {
    method: 'PUT',
    path: '/api/jobconfigs/:id/macros/:name',
    action: (res) => (res.statusCode === 201 ? 'macro.created' : 'macro.updated'),
    resource: (p, _res, req) => macro(p, req),
    details: macroDetails,
  },
  {
    method: 'DELETE',
    path: '/api/jobconfigs/:id/macros/:name',
    action: 'macro.deleted',
    resource: (p, _res, req) => macro(p, req),
    details: macroDetails,
  },
  {
    method: 'POST',
    path: '/api/jobconfigs/:id/jobs',
    action: 'job.submitted',
    resource: (_p, res) => ({ type: 'job', id: idFromLocation(res) ?? '' }),
    details: (p) => ({ jobConfigId: p.id ?? null }),
  },
  {
    method: 'DELETE',
    path: '/api/jobs/:id',
    action: 'job.cancelled',
    resource: (p) => ({ type: 'job', id: p.id ?? '' }),
  },
];
