import { idFromLocation, type AuditRule } from '@im/http-kit';

const file = (jobConfigId: string, key: string | null) => ({
  type: 'file',
  id: `${jobConfigId}/${key ?? ''}`,
});

/** What file-storage records (docs/security.md, "Audit"): the file's configuration and name, never its bytes. */
export const FILE_AUDIT_RULES: AuditRule[] = [
  {
    method: 'POST',
    path: '/api/jobconfigs/:id/files',
    action: 'file.stored',
    resource: (p, res) => file(p.id ?? '', idFromLocation(res)),
    details: (p) => ({ jobConfigId: p.id ?? null }),
  },
  {
    method: 'PUT',
    path: '/api/jobconfigs/:id/files/:key',
    action: 'file.stored',
    resource: (p) => file(p.id ?? '', p.key ?? null),
    details: (p) => ({ jobConfigId: p.id ?? null, key: p.key ?? null }),
  },
  {
    method: 'DELETE',
    path: '/api/jobconfigs/:id/files/:key',
    action: 'file.deleted',
    resource: (p) => file(p.id ?? '', p.key ?? null),
    details: (p) => ({ jobConfigId: p.id ?? null, key: p.key ?? null }),
  },
];
