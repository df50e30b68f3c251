// Shared by scripts/events/*.mjs: command-line parsing, the Kafka client from the services' env
// variables, and the topic catalog ids. Plain Node ESM with kafkajs from node_modules (no build).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

/**
 * The ids of libs/contracts/src/topics.ts (`topicCatalog`). Kept here so the scripts run without a
 * build; libs/messaging/src/event-scripts.int.test.ts fails when the two differ.
 */
export const TOPIC_IDS = [
  'job.status',
  'job.requests',
  'job.progress',
  'job.cancel',
  'job.leases',
  'job.heartbeats',
  'jobconfig.changes',
  'file.changes',
  'user.changes',
  'audit.events',
];

export const DEFAULT_TOPIC_PREFIX = 'im.';

/** Exit codes shared by the scripts. */
export const EXIT = { ok: 0, error: 1, usage: 2, sequenceProblem: 3 };

/** Writes to stderr: progress and diagnostics, so stdout carries only the script's output. */
export const info = (name, message) => process.stderr.write(`[${name}] ${message}\n`);

/**
 * Parses argv with node:util parseArgs. `--help` prints `help` and exits 0; an unknown option or a
 * missing value prints the problem and exits 2.
 */
export function parseCli(name, help, options) {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    usageError(name, err instanceof Error ? err.message : String(err));
  }
  if (parsed.values.help) {
    process.stdout.write(help);
    process.exit(EXIT.ok);
  }
  return parsed.values;
}

export function usageError(name, message) {
  process.stderr.write(
    `${name}: ${message}\nRun "node scripts/events/${name}.mjs --help" for the options.\n`,
  );
  process.exit(EXIT.usage);
}

/** A number option: undefined when not given; exits 2 when it is not a number >= min (or not whole). */
export function numberOption(name, option, value, { min, integer }) {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const n = Number(text);
  const ok = (integer ? /^\d+$/ : /^\d+(\.\d+)?$/).test(text) && Number.isFinite(n) && n >= min;
  if (!ok)
    usageError(name, `--${option} must be a${integer ? ' whole' : ''} number >= ${min}, got "${value}"`);
  return n;
}

/** Broker list from --brokers or KAFKA_BROKERS; exits 2 when neither is set. */
export function brokersOption(name, value) {
  const raw = value ?? process.env.KAFKA_BROKERS;
  const brokers = (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (brokers.length === 0)
    usageError(name, 'no brokers: pass --brokers host:port[,host:port] or set KAFKA_BROKERS');
  return brokers;
}

const envFlag = (v) => ['true', '1', 'yes'].includes(String(v ?? '').toLowerCase());

/**
 * SASL settings from KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or
 * KAFKA_SASL_PASSWORD_FILE); none when none is set; exits 2 naming what is missing for half a set.
 */
export function saslFromEnv(name, env = process.env) {
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username } = env;
  const file = env.KAFKA_SASL_PASSWORD_FILE;
  if (!mechanism && !username && !env.KAFKA_SASL_PASSWORD && !file) return undefined;
  let password = env.KAFKA_SASL_PASSWORD;
  if (!password && file) {
    try {
      password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      usageError(name, `KAFKA_SASL_PASSWORD_FILE: cannot read ${file} (${err.code})`);
    }
  }
  const missing = [
    !mechanism && 'KAFKA_SASL_MECHANISM',
    !username && 'KAFKA_SASL_USERNAME',
    !password && 'KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)',
  ].filter(Boolean);
  if (missing.length > 0) usageError(name, `SASL needs ${missing.join(', ')} as well`);
  return { mechanism, username, password };
}

/**
 * A kafkajs client configured like the services (KAFKA_SSL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME,
 * KAFKA_SASL_PASSWORD or _FILE, KAFKA_CLIENT_ID). kafkajs logs warnings and errors to stderr, one line each.
 */
export function kafkaClient(name, brokers) {
  const env = process.env;
  const sasl = saslFromEnv(name, env);
  return new Kafka({
    clientId: env.KAFKA_CLIENT_ID ?? `im-${name}`,
    brokers,
    ssl: envFlag(env.KAFKA_SSL),
    ...(sasl ? { sasl } : {}),
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ label, log }) => {
        // A rebalance is normal (kafkajs logs it at ERROR level); leaving a group to stop is too.
        if (/rebalanc|not aware of this member|consumer has been stopped/i.test(log.message)) return;
        info(name, `kafkajs ${label}: ${log.message}${log.error ? ` (${log.error})` : ''}`);
      },
  });
}

/** Resolves with p, or with undefined after ms (kafkajs can hang in disconnect while it reconnects). */
export function withTimeout(p, ms) {
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]);
}

/** Writes the last line to stdout, then exits once it is flushed. */
export function exitWith(code, lastLine) {
  if (lastLine === undefined) process.exit(code);
  process.stdout.write(`${lastLine}\n`, () => process.exit(code));
}

/** One line: control characters (newlines in stack traces, say) shown as spaces. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const oneLine = (s) => String(s).replace(/[\u0000-\u001f\u007f]+/g, ' ');

/**
 * Runs `fn(admin)` with a connected admin client after checking that every topic in `topics`
 * exists (a clear error names the settings to check); always disconnects.
 */
export async function withTopics(kafka, topics, fn = async () => undefined) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    for (const t of topics)
      if (!existing.includes(t))
        throw new Error(`topic ${t} does not exist (check --prefix / KAFKA_TOPIC_PREFIX and --brokers)`);
    return await fn(admin);
  } finally {
    await withTimeout(admin.disconnect(), 2000);
  }
}
