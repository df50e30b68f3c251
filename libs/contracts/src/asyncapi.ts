import { topicCatalog, topicName, type TopicId } from './topics';
import { z } from './zod';

const descriptions: Record<TopicId, { summary: string; producer: string; consumers: string }> = {
  'job.status': {
    summary:
      'Public. One CloudEvent per job status transition, published after it is committed; key: job id; per-job sequence without gaps.',
    producer: 'jobconfig',
    consumers: 'anyone (dashboards, alerting, downstream pipelines)',
  },
  'job.requests': {
    summary: 'Run one attempt of a job.',
    producer: 'jobconfig',
    consumers: 'job-runner (group job-runner)',
  },
  'job.progress': {
    summary:
      'A runner claims an attempt (INITIALIZING), reports RUNNING (also with currentStep), FINISHED, ERROR or FAILED, or hands it back (RELEASED); jobconfig decides.',
    producer: 'job-runner',
    consumers: 'jobconfig (group jobconfig.progress)',
  },
  'job.cancel': {
    summary: 'Stop this attempt wherever it runs.',
    producer: 'jobconfig',
    consumers: 'every runner (a group per runner)',
  },
  'job.leases': {
    summary:
      "jobconfig's answer to a claim: granted (the runner holds the attempt while it heartbeats) or refused; a refusal for an attempt a runner runs tells it to stop.",
    producer: 'jobconfig',
    consumers: 'every runner (a group per runner; each acts on its own runnerId)',
  },
  'job.heartbeats': {
    summary: 'A runner is alive and still runs these attempts; renews their leases. Key: runner id.',
    producer: 'job-runner',
    consumers: 'jobconfig (group jobconfig.heartbeats)',
  },
  'jobconfig.changes': {
    summary: 'A configuration was created, updated or deleted.',
    producer: 'jobconfig',
    consumers: 'file-storage',
  },
  'file.changes': {
    summary: 'A file of a configuration was stored or deleted.',
    producer: 'file-storage',
    consumers: 'none yet',
  },
  'audit.events': {
    summary:
      'Who did what, when, from where, with what outcome (logins, changes to users, configurations, schedules, macros, files and jobs). Best-effort, at least once; never carries secrets, macro values or passwords. Key: event id.',
    producer: 'auth, jobconfig, file-storage',
    consumers: 'auth (group auth.audit; stores them for GET /api/audit)',
  },
  'user.changes': {
    summary:
      "A user was created or changed (the user's state after the change: account, active, roles). A deactivated user's waiting jobs are cancelled and their runs and tokens refused.",
    producer: 'auth',
    consumers: 'jobconfig (group jobconfig.user-changes)',
  },
};

/**
 * The AsyncAPI 3.0 document of every topic, generated from the same zod schemas the services
 * validate records with (docs/asyncapi.json is this document; a test keeps it current).
 */
export function buildAsyncApiDocument(version: string, prefix = 'im.') {
  const ids = Object.keys(topicCatalog) as TopicId[];
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const id of ids) {
    const key = id.replace(/\./g, '-');
    const d = descriptions[id];
    messages[key] = {
      name: key,
      contentType: id === 'job.status' ? 'application/cloudevents+json' : 'application/json',
      summary: d.summary,
      payload: z.toJSONSchema(topicCatalog[id].schema, {
        target: 'draft-7',
        io: 'output',
        unrepresentable: 'any',
      }),
      bindings: {
        kafka: {
          key: {
            type: 'string',
            description:
              id === 'user.changes'
                ? 'user id'
                : id === 'audit.events'
                  ? 'event id'
                  : id.startsWith('job') && id !== 'jobconfig.changes'
                    ? 'job id'
                    : 'configuration id',
          },
        },
      },
    };
    channels[key] = {
      address: topicName(id, prefix),
      description: `${d.summary} Producer: ${d.producer}. Consumers: ${d.consumers}. Dead letters: ${topicName(id, prefix)}.dlq.`,
      messages: { [key]: { $ref: `#/components/messages/${key}` } },
    };
    operations[`publish-${key}`] = {
      action: 'send',
      channel: { $ref: `#/channels/${key}` },
      summary: `${d.producer} publishes`,
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'integration-manager events',
      version,
      description:
        'Topics of integration-manager on Apache Kafka. Topic names carry a configurable prefix (KAFKA_TOPIC_PREFIX, default "im.").',
    },
    defaultContentType: 'application/json',
    channels,
    operations,
    components: { messages },
  };
}
