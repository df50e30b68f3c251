#!/usr/bin/env node
// `npm run events:redrive -- --topic <id> [options]`: moves dead-lettered records back. Reads
// `<prefix><id>.dlq` as the consumer group `<prefix>redrive.<id>` and republishes each record to
// `<prefix><id>` with its key, value and headers (minus `x-dlq-*`), plus `x-redriven-at` and an
// incremented `x-redrive-count`. The group's committed offsets make each record move once across runs.
import { setInterval, clearInterval } from 'node:timers';
import kafkajs from 'kafkajs';
import {
  DEFAULT_TOPIC_PREFIX,
  EXIT,
  TOPIC_IDS,
  brokersOption,
  exitWith,
  info,
  kafkaClient,
  numberOption,
  oneLine,
  parseCli,
  usageError,
  withTimeout,
  withTopics,
} from './lib.mjs';

const { Partitioners } = kafkajs;
const NAME = 'redrive';
const VALUE_PREVIEW = 200;
const PROGRESS_EVERY_MS = 5000;

const HELP = `Usage: node scripts/events/redrive.mjs --topic <id> [options]
       npm run events:redrive -- --topic <id> [options]

Moves dead-lettered records back to their topic: reads <prefix><id>.dlq as the consumer group
<prefix>redrive.<id> and republishes each record to <prefix><id> with its key, value and headers,
minus x-dlq-cause / x-dlq-error, plus x-redriven-at (ISO time) and x-redrive-count (1 for a record
redriven the first time, incremented when it comes back). Offsets are committed after each batch is
written, so each dead-lettered record is redriven once across runs (a crash between the write and the
commit can move a batch twice: consumers de-duplicate anyway, delivery is at-least-once).

Only the records already in the dead-letter topic when the run starts are moved, so a record that
fails again is not redriven in a loop. Fix the cause first: a record dead-lettered for its schema
(x-dlq-cause: schema) fails the same way until the consumer accepts it.

Options:
  --topic ID               catalog id of the topic: ${TOPIC_IDS.join(', ')}
  --brokers LIST           Kafka brokers, host:port[,host:port] (default: env KAFKA_BROKERS)
  --prefix PREFIX          topic prefix (default: env KAFKA_TOPIC_PREFIX, else "${DEFAULT_TOPIC_PREFIX}")
  --dry-run                list the records a real run would move (key, cause, error, the first
                           ${VALUE_PREVIEW} characters of the value); moves and commits nothing
  --max N                  move (or list) at most N records
  --exit-after-idle SECS   stop after SECS seconds without a record (default 5), e.g. when another
                           run holds some of the partitions
  -h, --help               this text

Kafka security from the services' env: KAFKA_SSL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME,
KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE), KAFKA_CLIENT_ID.

Output: one line per record (stdout), progress every ${PROGRESS_EVERY_MS / 1000} s on long runs (stderr), then
  SUMMARY redriven=… left=… source=… target=… group=… stopped=…
  SUMMARY dry-run listed=… waiting=… source=… group=… stopped=… (nothing moved or committed)
stopped= is done (every record waiting at the start was handled), max, idle, empty (nothing
waiting), SIGINT, SIGTERM or error.

Exit codes: 0 done (also when nothing was dead-lettered), 1 error, 2 usage error (unknown topic id).
`;

const opts = parseCli(NAME, HELP, {
  topic: { type: 'string' },
  brokers: { type: 'string' },
  prefix: { type: 'string' },
  'dry-run': { type: 'boolean' },
  max: { type: 'string' },
  'exit-after-idle': { type: 'string' },
});
if (opts.topic === undefined) usageError(NAME, `--topic is required, one of: ${TOPIC_IDS.join(', ')}`);
if (!TOPIC_IDS.includes(opts.topic))
  usageError(NAME, `unknown topic id "${opts.topic}"; the catalog ids are: ${TOPIC_IDS.join(', ')}`);
const brokers = brokersOption(NAME, opts.brokers);
const prefix = opts.prefix ?? process.env.KAFKA_TOPIC_PREFIX ?? DEFAULT_TOPIC_PREFIX;
const dryRun = opts['dry-run'] ?? false;
const max = numberOption(NAME, 'max', opts.max, { min: 1, integer: true });
const idleSeconds =
  numberOption(NAME, 'exit-after-idle', opts['exit-after-idle'], { min: 0, integer: false }) ?? 5;
const target = `${prefix}${opts.topic}`;
const source = `${target}.dlq`;
const groupId = `${prefix}redrive.${opts.topic}`;

const kafka = kafkaClient(NAME, brokers);
const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
const producer = kafka.producer({
  idempotent: true,
  maxInFlightRequests: 1,
  allowAutoTopicCreation: false,
  // murmur2 on the key, as the services' producer: a record goes back to the partition of its key.
  createPartitioner: Partitioners.DefaultPartitioner,
});

/** Per partition of the dead-letter topic: the offset to stop at (its end when the run started). */
const endOf = new Map();
let total = 0n;
let moved = 0;
let producerConnected = false;
let stopping;
let failed = false;
let idleTimer;
let progressTimer;

const text = (v) => (v === undefined || v === null ? '' : Buffer.isBuffer(v) ? v.toString() : String(v));
const header = (headers, name) => {
  const v = headers?.[name];
  return text(Array.isArray(v) ? v[v.length - 1] : v);
};

/** The record's headers for its way back: minus x-dlq-*, plus x-redriven-at and x-redrive-count. */
function redriveHeaders(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const name = k.toLowerCase();
    if (
      v === undefined ||
      name.startsWith('x-dlq-') ||
      name === 'x-redriven-at' ||
      name === 'x-redrive-count'
    )
      continue;
    out[k] = v;
  }
  const previous = Number.parseInt(header(headers, 'x-redrive-count'), 10);
  out['x-redriven-at'] = new Date().toISOString();
  out['x-redrive-count'] = String((Number.isInteger(previous) && previous > 0 ? previous : 0) + 1);
  return out;
}

function describeRecord(partition, message, headers) {
  const key = message.key === null ? '(none)' : text(message.key);
  const value = text(message.value);
  const preview = oneLine(value.slice(0, VALUE_PREVIEW)) + (value.length > VALUE_PREVIEW ? '…' : '');
  return {
    head: `[partition ${partition}, offset ${message.offset}] key=${key} cause=${header(message.headers, 'x-dlq-cause') || '(none)'} x-redrive-count=${headers['x-redrive-count']}`,
    error: oneLine(header(message.headers, 'x-dlq-error') || '(none)'),
    value: message.value === null ? '(null)' : preview,
  };
}

const left = () => total - BigInt(moved);

function summary(reason) {
  return dryRun
    ? `SUMMARY dry-run listed=${moved} waiting=${total} source=${source} group=${groupId} stopped=${reason} (nothing moved or committed)`
    : `SUMMARY redriven=${moved} left=${left()} source=${source} target=${target} group=${groupId} stopped=${reason}`;
}

function resetIdle() {
  if (stopping) return;
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => void stop('idle'), idleSeconds * 1000);
}

/** Leaves the group, prints the summary and exits. Safe to call more than once. */
function stop(reason) {
  stopping ??= (async () => {
    clearTimeout(idleTimer);
    clearInterval(progressTimer);
    await withTimeout(consumer.disconnect(), 5000);
    if (producerConnected) await withTimeout(producer.disconnect(), 5000);
    exitWith(failed ? EXIT.error : EXIT.ok, summary(reason));
  })();
  return stopping;
}

process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

/** Reads where the group stands and how many records wait; fills endOf. */
async function pending() {
  await withTopics(kafka, dryRun ? [source] : [source, target], async (admin) => {
    const ends = await admin.fetchTopicOffsets(source);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [source] });
    const position = new Map(committed.partitions.map((p) => [p.partition, BigInt(p.offset)]));
    for (const { partition, low, high } of ends) {
      const from = position.get(partition) ?? -1n;
      const start = from >= BigInt(low) ? from : BigInt(low);
      if (BigInt(high) > start) {
        endOf.set(partition, BigInt(high));
        total += BigInt(high) - start;
      }
    }
  });
}

async function main() {
  await pending();
  info(
    NAME,
    `${source}: ${total} record(s) to ${dryRun ? 'list (dry run)' : `redrive to ${target}`} as group ${groupId}`,
  );
  if (total === 0n) {
    process.stdout.write(`nothing to redrive in ${source}\n`);
    exitWith(EXIT.ok, summary('empty'));
    return;
  }
  if (!dryRun) {
    await producer.connect();
    producerConnected = true;
  }
  let reported = 0;
  progressTimer = setInterval(() => {
    if (moved === reported) return;
    reported = moved;
    info(NAME, `progress: ${moved} of ${total} ${dryRun ? 'listed' : 'redriven'}`);
  }, PROGRESS_EVERY_MS);
  progressTimer.unref();
  consumer.on(consumer.events.GROUP_JOIN, () => resetIdle());
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart) return;
    failed = true;
    info(NAME, `consumer crashed: ${oneLine(payload.error)}`);
    void stop('error');
  });
  await consumer.connect();
  await consumer.subscribe({ topic: source, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const { partition } = batch;
      const end = endOf.get(partition) ?? 0n;
      const take = [];
      for (const message of batch.messages) {
        if (stopping || !isRunning() || isStale()) break;
        if (BigInt(message.offset) >= end) break;
        if (max !== undefined && moved + take.length >= max) break;
        take.push(message);
      }
      if (take.length > 0) {
        resetIdle();
        const out = take.map((m) => ({ message: m, headers: redriveHeaders(m.headers) }));
        try {
          if (!dryRun) {
            await producer.send({
              topic: target,
              acks: -1,
              messages: out.map(({ message, headers }) => ({
                key: message.key,
                value: message.value,
                headers,
              })),
            });
            const last = take[take.length - 1];
            await consumer.commitOffsets([
              { topic: source, partition, offset: (BigInt(last.offset) + 1n).toString() },
            ]);
          }
        } catch (err) {
          failed = true;
          info(NAME, `error: ${oneLine(err instanceof Error ? err.message : err)}`);
          void stop('error');
          return;
        }
        for (const { message, headers } of out) {
          const d = describeRecord(partition, message, headers);
          process.stdout.write(
            dryRun
              ? `would redrive ${d.head}\n  error: ${d.error}\n  value: ${d.value}\n`
              : `redriven ${d.head} → ${target}\n`,
          );
          resolveOffset(message.offset);
        }
        moved += take.length;
      }
      const last = take.length > 0 ? BigInt(take[take.length - 1].offset) + 1n : undefined;
      if (endOf.has(partition) && (last ?? BigInt(batch.firstOffset() ?? '0')) >= end) {
        // This partition is done for this run; newer dead letters wait for the next one.
        endOf.delete(partition);
        consumer.pause([{ topic: source, partitions: [partition] }]);
      } else if (!endOf.has(partition)) {
        consumer.pause([{ topic: source, partitions: [partition] }]);
      }
      if (endOf.size === 0) void stop('done');
      else if (max !== undefined && moved >= max) void stop('max');
      await heartbeat();
    },
  });
}

main().catch((err) => {
  failed = true;
  info(NAME, `error: ${oneLine(err instanceof Error ? err.message : err)}`);
  void stop('error');
});
