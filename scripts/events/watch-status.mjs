#!/usr/bin/env node
// `npm run events:watch -- [options]`: the example consumer of the public topic `<prefix>job.status`
// (docs/events.md). Prints one line per job status transition, de-duplicates on the CloudEvent id
// (delivery is at-least-once) and checks per job that `data.sequence` counts 1, 2, 3 … without gaps
// and never goes backwards. Exit code 3 when it saw a gap or a reordering.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  DEFAULT_TOPIC_PREFIX,
  EXIT,
  brokersOption,
  exitWith,
  info,
  kafkaClient,
  numberOption,
  oneLine,
  parseCli,
  withTimeout,
  withTopics,
} from './lib.mjs';

const NAME = 'watch-status';
const EVENT_TYPE = 'im.job.status.v1';
/** Ids and jobs remembered for de-duplication and sequence checks; the oldest are forgotten beyond this. */
const MEMORY = 500_000;

const HELP = `Usage: node scripts/events/watch-status.mjs [options]
       npm run events:watch -- [options]

Watches the public topic <prefix>job.status and prints one line per job status transition:
event time, job id, sequence, previousStatus → status, attempt, reason and returnCode when set.
Events are de-duplicated on the CloudEvent id (delivery is at-least-once): a redelivered event is
reported once as DUPLICATE. Per job, the sequence must count 1, 2, 3 … : a gap or a sequence that
goes backwards prints a WARNING line. Records that are not JSON or not a job status event are
reported as INVALID and counted; they never stop the watch.

Options:
  --brokers LIST           Kafka brokers, host:port[,host:port] (default: env KAFKA_BROKERS)
  --prefix PREFIX          topic prefix (default: env KAFKA_TOPIC_PREFIX, else "${DEFAULT_TOPIC_PREFIX}")
  --group ID               consumer group id, used as given (default: a new unique group,
                           <prefix>watch-status.<host>.<pid>.<random>, deleted on exit, so the watch
                           never takes records from another consumer)
  --from-beginning         read the topic from its oldest record (default: only new events; with
                           --group, a group that has committed offsets resumes from them)
  --json                   one JSON object per line instead of text ("kind": transition, duplicate,
                           warning, invalid, summary)
  --count N                stop after N new (not duplicate) events
  --exit-after-idle SECS   stop after SECS seconds without any record
  -h, --help               this text

Kafka security from the services' env: KAFKA_SSL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME,
KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE), KAFKA_CLIENT_ID.

On exit (--count, --exit-after-idle, SIGINT or SIGTERM) it prints a summary line:
  SUMMARY events=… duplicates=… jobs=… gaps=… reorderings=… invalid=… stopped=…

With --from-beginning a job whose first record on the topic is not sequence 1 counts as a gap
(the earlier events are missing, or were deleted by retention). Without it, the first event seen of
each job is where its checks start.

Exit codes:
  0  no gap and no reordering seen
  1  error (brokers unreachable, topic missing, consumer crashed)
  2  usage error
  3  a gap or a reordering of a job's sequence was seen
`;

const opts = parseCli(NAME, HELP, {
  brokers: { type: 'string' },
  prefix: { type: 'string' },
  group: { type: 'string' },
  'from-beginning': { type: 'boolean' },
  json: { type: 'boolean' },
  count: { type: 'string' },
  'exit-after-idle': { type: 'string' },
});
const brokers = brokersOption(NAME, opts.brokers);
const prefix = opts.prefix ?? process.env.KAFKA_TOPIC_PREFIX ?? DEFAULT_TOPIC_PREFIX;
const count = numberOption(NAME, 'count', opts.count, { min: 1, integer: true });
const idleSeconds = numberOption(NAME, 'exit-after-idle', opts['exit-after-idle'], {
  min: 0,
  integer: false,
});
const fromBeginning = opts['from-beginning'] ?? false;
const json = opts.json ?? false;
const topic = `${prefix}job.status`;
const ownGroup = opts.group === undefined;
const groupId =
  opts.group ?? `${prefix}watch-status.${hostname()}.${process.pid}.${randomBytes(3).toString('hex')}`;

const stats = { events: 0, duplicates: 0, jobs: 0, gaps: 0, reorderings: 0, invalid: 0 };
/** CloudEvent ids seen (insertion order = age). */
const seenIds = new Map();
/** Per job: the highest sequence seen. */
const lastSequence = new Map();

const emit = (text, object) => process.stdout.write(`${json ? JSON.stringify(object) : text}\n`);

function remember(map, key, value) {
  map.delete(key);
  map.set(key, value);
  if (map.size > MEMORY) map.delete(map.keys().next().value);
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isText = (v) => typeof v === 'string' && v.length > 0;
const isCount = (v) => Number.isInteger(v) && v >= 1;

/** Why a parsed record is not a job status event, or undefined when it is one. */
function problemOf(e) {
  if (!isObject(e)) return 'not a JSON object';
  if (e.type !== EVENT_TYPE) return `not a job status event (type ${JSON.stringify(e.type)})`;
  if (e.specversion !== '1.0') return `specversion ${JSON.stringify(e.specversion)} is not "1.0"`;
  if (!isText(e.id)) return 'no id';
  if (!isText(e.time)) return 'no time';
  const d = e.data;
  if (!isObject(d)) return 'no data';
  if (!isText(d.jobId)) return 'no data.jobId';
  if (!isText(d.status)) return 'no data.status';
  if (d.previousStatus !== null && !isText(d.previousStatus))
    return 'data.previousStatus is not a status or null';
  if (!isCount(d.sequence)) return 'data.sequence is not a whole number >= 1';
  if (!isCount(d.attempt)) return 'data.attempt is not a whole number >= 1';
  if (d.reason != null && typeof d.reason !== 'string') return 'data.reason is not a string or null';
  if (d.returnCode != null && !Number.isInteger(d.returnCode))
    return 'data.returnCode is not a whole number or null';
  if (e.id !== `${d.jobId}:${d.sequence}`) return `id ${JSON.stringify(e.id)} is not <jobId>:<sequence>`;
  return undefined;
}

function onRecord(partition, message) {
  const at = { partition, offset: message.offset };
  const where = `partition ${partition}, offset ${message.offset}`;
  let event;
  try {
    event = JSON.parse(message.value?.toString() ?? '');
  } catch {
    event = undefined;
  }
  const problem = event === undefined ? 'not JSON' : problemOf(event);
  if (problem) {
    stats.invalid++;
    emit(`INVALID (${where}): ${problem}`, { kind: 'invalid', ...at, error: problem });
    return false;
  }
  const d = event.data;
  if (seenIds.has(event.id)) {
    stats.duplicates++;
    emit(`DUPLICATE ${event.id} (${where}): already seen, ignored`, {
      kind: 'duplicate',
      id: event.id,
      jobId: d.jobId,
      sequence: d.sequence,
      ...at,
    });
    return false;
  }
  remember(seenIds, event.id, true);
  stats.events++;

  const last = lastSequence.get(d.jobId);
  if (last === undefined) stats.jobs++;
  const expected = last === undefined ? 1 : last + 1;
  if (last === undefined && !fromBeginning) {
    // Joined mid-stream: this job's checks start here.
  } else if (d.sequence > expected) {
    stats.gaps++;
    const missing = expected === d.sequence - 1 ? `${expected}` : `${expected}..${d.sequence - 1}`;
    const after = last === undefined ? 'is the first event of the job on the topic' : `follows ${last}`;
    emit(`WARNING gap: job ${d.jobId} sequence ${d.sequence} ${after} (missing ${missing})`, {
      kind: 'warning',
      warning: 'gap',
      jobId: d.jobId,
      sequence: d.sequence,
      previous: last ?? null,
      missingFrom: expected,
      missingTo: d.sequence - 1,
      ...at,
    });
  } else if (last !== undefined && d.sequence <= last) {
    stats.reorderings++;
    emit(`WARNING reordering: job ${d.jobId} sequence ${d.sequence} after ${last} (went backwards)`, {
      kind: 'warning',
      warning: 'reordering',
      jobId: d.jobId,
      sequence: d.sequence,
      previous: last,
      ...at,
    });
  }
  if (last === undefined || d.sequence > last) remember(lastSequence, d.jobId, d.sequence);

  const extra = [
    d.reason != null ? `reason=${d.reason}` : '',
    d.returnCode != null ? `returnCode=${d.returnCode}` : '',
  ].filter(Boolean);
  emit(
    `${event.time}  ${d.jobId}  #${d.sequence}  ${d.previousStatus ?? '(new)'} → ${d.status}  attempt ${d.attempt}${
      extra.length ? `  ${extra.join(' ')}` : ''
    }`,
    {
      kind: 'transition',
      time: event.time,
      jobId: d.jobId,
      sequence: d.sequence,
      previousStatus: d.previousStatus,
      status: d.status,
      attempt: d.attempt,
      reason: d.reason ?? null,
      returnCode: d.returnCode ?? null,
      id: event.id,
      ...at,
    },
  );
  return true;
}

const kafka = kafkaClient(NAME, brokers);
const consumer = kafka.consumer({
  groupId,
  allowAutoTopicCreation: false,
  // Short fetch waits keep joining and stopping quick (kafkajs heartbeats between fetches).
  maxWaitTimeInMs: 500,
});

let stopping;
let failed = false;
let idleTimer;
let joined = false;

function resetIdle() {
  if (idleSeconds === undefined || stopping) return;
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => void stop('idle'), idleSeconds * 1000);
}

async function deleteOwnGroup() {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch {
    // Best effort: an empty group expires on its own.
  } finally {
    await withTimeout(admin.disconnect(), 2000);
  }
}

/** Leaves the group, prints the summary and exits. Safe to call more than once. */
function stop(reason) {
  stopping ??= (async () => {
    clearTimeout(idleTimer);
    await withTimeout(consumer.disconnect(), 5000);
    if (ownGroup && joined) await withTimeout(deleteOwnGroup(), 5000);
    const s = stats;
    const code = failed ? EXIT.error : s.gaps + s.reorderings > 0 ? EXIT.sequenceProblem : EXIT.ok;
    exitWith(
      code,
      json
        ? JSON.stringify({ kind: 'summary', ...s, stopped: reason, exitCode: code })
        : `SUMMARY events=${s.events} duplicates=${s.duplicates} jobs=${s.jobs} gaps=${s.gaps} reorderings=${s.reorderings} invalid=${s.invalid} stopped=${reason}`,
    );
  })();
  return stopping;
}

process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

async function main() {
  await withTopics(kafka, [topic]);
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
    info(NAME, `watching ${topic} as group ${groupId}${fromBeginning ? ' from the beginning' : ''}`);
    resetIdle();
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart) return;
    failed = true;
    info(NAME, `consumer crashed: ${oneLine(payload.error)}`);
    void stop('error');
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning });
  await consumer.run({
    autoCommit: true,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (const message of batch.messages) {
        // Records after a stop are left unresolved, so a named group reads them next time.
        if (stopping || !isRunning() || isStale()) break;
        resetIdle();
        const isNew = onRecord(batch.partition, message);
        resolveOffset(message.offset);
        if (isNew && count !== undefined && stats.events >= count) void stop('count');
      }
      await heartbeat();
    },
  });
}

main().catch((err) => {
  failed = true;
  info(NAME, `error: ${oneLine(err instanceof Error ? err.message : err)}`);
  void stop('error');
});
