import { topicCatalog, type TopicId } from '@im/contracts';
import { BUS_ROLES, busAccess, busAcls, type BusRole } from './kafka-acls';

const users: Record<BusRole, string> = {
  auth: 'im-auth',
  jobconfig: 'im-jobconfig',
  'file-storage': 'im-file-storage',
  'job-runner': 'im-job-runner',
  events: 'im-events',
};

const writers = (topic: string) =>
  busAcls('p.', users)
    .filter((a) => a.resourceType === 'topic' && a.resourceName === topic && a.operation === 'write')
    .map((a) => a.principal)
    .sort();

describe('busAcls', () => {
  it('lets only the runner write job.progress and job.heartbeats, and only auth write user.changes', () => {
    expect(writers('p.job.progress')).toEqual(['User:im-job-runner']);
    expect(writers('p.job.heartbeats')).toEqual(['User:im-job-runner']);
    expect(writers('p.user.changes')).toEqual(['User:im-auth']);
  });

  it('lets only jobconfig write what the runner obeys and the public status topic', () => {
    for (const t of ['job.requests', 'job.leases', 'job.cancel', 'job.status'])
      expect(writers(`p.${t}`)).toEqual(['User:im-jobconfig']);
  });

  it('gives the events principal read access to job.status and its own groups only', () => {
    const acls = busAcls('p.', { events: 'im-events' });
    expect(acls.filter((a) => a.resourceType === 'topic')).toEqual([
      {
        principal: 'User:im-events',
        resourceType: 'topic',
        resourceName: 'p.job.status',
        pattern: 'literal',
        operation: 'read',
      },
      // A consumer dead-letters poison records; the events principal runs no platform consumer, but
      // a dashboard built on the messaging lib would.
      {
        principal: 'User:im-events',
        resourceType: 'topic',
        resourceName: 'p.job.status.dlq',
        pattern: 'literal',
        operation: 'write',
      },
    ]);
    expect(acls.filter((a) => a.resourceType === 'group').map((a) => [a.resourceName, a.pattern])).toEqual([
      ['p.watch-status.', 'prefixed'],
      ['p.watch-status.', 'prefixed'],
      ['p.events.', 'prefixed'],
      ['p.events.', 'prefixed'],
    ]);
  });

  it('lets a consumer write the dead-letter topic of what it reads, nothing else of it', () => {
    const runner = busAcls('p.', { 'job-runner': 'r' });
    expect(runner).toContainEqual(
      expect.objectContaining({ resourceName: 'p.job.requests', operation: 'read' }),
    );
    expect(runner).toContainEqual(
      expect.objectContaining({ resourceName: 'p.job.requests.dlq', operation: 'write' }),
    );
    expect(runner).not.toContainEqual(
      expect.objectContaining({ resourceName: 'p.job.requests', operation: 'write' }),
    );
  });

  it('binds every resource to the installation prefix', () => {
    for (const a of busAcls('inst-1.', users)) expect(a.resourceName.startsWith('inst-1.')).toBe(true);
  });

  it('creates nothing for roles without a user', () => {
    expect(busAcls('p.', {})).toEqual([]);
    expect(new Set(busAcls('p.', { auth: 'a' }).map((a) => a.principal))).toEqual(new Set(['User:a']));
  });

  it('covers every topic of the catalog: each has a producer, each consumed topic is produced', () => {
    const produced = new Set(BUS_ROLES.flatMap((r) => busAccess[r].produces));
    const consumed = new Set(BUS_ROLES.flatMap((r) => busAccess[r].consumes));
    expect([...produced].sort()).toEqual((Object.keys(topicCatalog) as TopicId[]).sort());
    for (const t of consumed) expect(produced.has(t)).toBe(true);
  });
});
