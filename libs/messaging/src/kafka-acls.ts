import { topicName, type TopicId } from '@im/contracts';

/**
 * Who may do what on the bus (docs/adr/0017-kafka-sasl-and-acls.md): one Kafka principal per service,
 * plus `events`, the read-only consumer of the public job-status topic. A principal may write the
 * topics it produces, read the topics it consumes (and write their dead-letter topics, where its
 * consumers put poison records), and use only its own consumer groups. Everything else is refused by
 * the broker (`allow.everyone.if.no.acl.found=false`): a `job.progress` record from anyone but the
 * runner, or a `user.changes` record from anyone but auth, never reaches its consumer.
 */
export type BusRole = 'auth' | 'jobconfig' | 'file-storage' | 'job-runner' | 'events';

export const BUS_ROLES: readonly BusRole[] = ['auth', 'jobconfig', 'file-storage', 'job-runner', 'events'];

interface BusAccess {
  produces: readonly TopicId[];
  consumes: readonly TopicId[];
  /** Consumer group ids (without the topic prefix); `prefixed`: every group id starting with it. */
  groups: readonly { id: string; prefixed?: true }[];
  /** May delete its groups (a watch removes its own group when it stops). */
  deletesGroups?: true;
}

export const busAccess: Record<BusRole, BusAccess> = {
  auth: {
    produces: ['user.changes', 'audit.events'],
    consumes: ['audit.events'],
    groups: [{ id: 'auth.audit' }],
  },
  jobconfig: {
    produces: ['job.requests', 'job.cancel', 'job.leases', 'job.status', 'jobconfig.changes', 'audit.events'],
    consumes: ['job.progress', 'job.heartbeats', 'user.changes'],
    groups: [{ id: 'jobconfig.progress' }, { id: 'jobconfig.heartbeats' }, { id: 'jobconfig.user-changes' }],
  },
  'file-storage': {
    produces: ['file.changes', 'audit.events'],
    consumes: ['jobconfig.changes'],
    groups: [{ id: 'file-storage.jobconfig-changes' }],
  },
  'job-runner': {
    produces: ['job.progress', 'job.heartbeats'],
    consumes: ['job.requests', 'job.leases', 'job.cancel'],
    // `job-runner` (requests), `job-runner.leases.<runner>` and `job-runner.cancel.<runner>`.
    groups: [{ id: 'job-runner', prefixed: true }],
  },
  events: {
    produces: [],
    consumes: ['job.status'],
    // The default group of `npm run events:watch`, and the groups of dashboards and pipelines.
    groups: [
      { id: 'watch-status.', prefixed: true },
      { id: 'events.', prefixed: true },
    ],
    deletesGroups: true,
  },
};

/** One ACL binding: ALLOW `operation` on the resource to `principal`, from any host. */
export interface BusAcl {
  principal: string;
  resourceType: 'topic' | 'group';
  resourceName: string;
  pattern: 'literal' | 'prefixed';
  operation: 'read' | 'write' | 'delete';
}

/**
 * The ACLs of the platform's topics under `prefix` for the given Kafka user names (roles left out
 * get none). Consumers also write their topics' dead-letter topics (`<topic>.dlq`).
 */
export function busAcls(prefix: string, users: Partial<Record<BusRole, string>>): BusAcl[] {
  const acls: BusAcl[] = [];
  for (const role of BUS_ROLES) {
    const user = users[role];
    if (!user) continue;
    const principal = `User:${user}`;
    const access = busAccess[role];
    const topic = (resourceName: string, operation: BusAcl['operation']) =>
      acls.push({ principal, resourceType: 'topic', resourceName, pattern: 'literal', operation });
    for (const id of access.produces) topic(topicName(id, prefix), 'write');
    for (const id of access.consumes) {
      topic(topicName(id, prefix), 'read');
      topic(`${topicName(id, prefix)}.dlq`, 'write');
    }
    for (const g of access.groups) {
      const group = { principal, resourceType: 'group', resourceName: `${prefix}${g.id}` } as const;
      const pattern = g.prefixed ? 'prefixed' : 'literal';
      acls.push({ ...group, pattern, operation: 'read' });
      if (access.deletesGroups) acls.push({ ...group, pattern, operation: 'delete' });
    }
  }
  return acls;
}
