import type { LogLevel } from '@im/contracts';

/**
 * The protocol between the runner (parent) and the executor (a forked Node process, `child.ts`).
 *
 * - Parent → child: the environment variable {@link EXECUTOR_SPEC_ENV} names a JSON file (mode 600)
 *   holding an {@link ExecutorSpec}. Nothing else is passed in; the child's environment is minimal.
 * - Child → parent, IPC: {@link ExecutorMessage}s (`step` when a process step starts, `fatal` when
 *   the executor itself broke, which the runner reports as a platform failure).
 * - Child → parent, stdout/stderr: one job-log line per text line. Lines the executor writes carry a
 *   level and a source ({@link encodeLogRecord}); any other stdout line is INFO from `[entry]`, any
 *   other stderr line WARNING from `[entry]`.
 * - Exit code: 0 success; {@link EXIT_PACKAGE_FAILED} the package's code failed; {@link
 *   EXIT_INVALID_DEFINITION} the process definition is invalid (bad field, unresolved macro);
 *   {@link EXIT_INTERNAL} the executor broke; any other code is the script's own.
 */
export const EXECUTOR_SPEC_ENV = 'IM_EXECUTOR_SPEC';
/**
 * Set to `1` for a pre-started (warm) executor: it loads its code, says `ready`, then waits for a
 * `go` message from the runner before it reads the spec file, which the runner writes in between.
 */
export const EXECUTOR_WAIT_ENV = 'IM_EXECUTOR_WAIT';

export const EXIT_PACKAGE_FAILED = 1;
export const EXIT_INVALID_DEFINITION = 2;
export const EXIT_INTERNAL = 70;

/**
 * How packages reach object storage: an S3-compatible server (one client per bucket named in a
 * `s3://bucket/key` URL), or, when the platform runs on local storage, one directory per bucket
 * under `bucketsRoot`. The credentials are the ones the runner hands to packages.
 */
export type ObjectStorageAccess =
  | {
      kind: 's3';
      endpoint?: string;
      region: string;
      accessKeyId: string;
      secretAccessKey: string;
      forcePathStyle: boolean;
    }
  | { kind: 'local'; bucketsRoot: string };

export interface ExecutorSpec {
  version: 1;
  jobId: string;
  jobConfigId: string;
  /** Absolute path of the entry point, inside specDir. */
  entryPoint: string;
  /** Where the package is unpacked (the child's cwd). */
  specDir: string;
  /** Files written here become the job's output files. */
  outDir: string;
  logLevel: LogLevel;
  /** Built-in macros plus the request's; built-ins win. */
  macros: Record<string, string>;
  /**
   * Optional: the attempt's scratch directory (the runner's `tmp/` of the attempt). Steps may write
   * there (`saveTo`, targets, rejects) besides outDir; files there are not output files. Also
   * offered as the macro LOCAL_JOB_WORK_DIR when the runner does not define it. Absent: steps may
   * write to outDir only.
   */
  workDir?: string;
  /**
   * Optional: the object storage that `object` connectors (`s3://bucket/key`) reach. Absent: the
   * `object` connector fails with a message saying that this runner offers no object storage.
   */
  objectStorage?: ObjectStorageAccess;
}

export type ExecutorMessage =
  { type: 'step'; name: string } | { type: 'fatal'; message: string } | { type: 'ready' };

// The executor checks its spec and the runner the executor's messages by hand, not with zod: zod
// and the contracts take ~0.1 s to load, a large part of a short job's start (ADR 0007).
const LOG_LEVELS: ReadonlySet<string> = new Set<LogLevel>(['SEVERE', 'WARNING', 'INFO', 'DEBUG']);
type Checked = Record<string, unknown>;
const isObject = (v: unknown): v is Checked => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';

function objectStorageAccess(v: unknown): ObjectStorageAccess | string {
  if (!isObject(v)) return 'objectStorage: not an object';
  if (v.kind === 'local')
    return isString(v.bucketsRoot)
      ? { kind: 'local', bucketsRoot: v.bucketsRoot }
      : 'objectStorage.bucketsRoot: not a string';
  if (v.kind !== 's3') return 'objectStorage.kind: neither s3 nor local';
  for (const k of ['region', 'accessKeyId', 'secretAccessKey'])
    if (!isString(v[k])) return `objectStorage.${k}: not a string`;
  if (v.endpoint !== undefined && !isString(v.endpoint)) return 'objectStorage.endpoint: not a string';
  if (typeof v.forcePathStyle !== 'boolean') return 'objectStorage.forcePathStyle: not a boolean';
  return {
    kind: 's3',
    ...(v.endpoint !== undefined ? { endpoint: v.endpoint } : {}),
    region: v.region as string,
    accessKeyId: v.accessKeyId as string,
    secretAccessKey: v.secretAccessKey as string,
    forcePathStyle: v.forcePathStyle,
  };
}

/** The spec the runner wrote, checked field by field; throws naming the first field that is wrong. */
export function parseExecutorSpec(v: unknown): ExecutorSpec {
  const fail = (what: string): never => {
    throw new Error(`the executor spec is invalid: ${what}`);
  };
  if (!isObject(v)) return fail('not an object');
  if (v.version !== 1) fail('version: not 1');
  for (const k of ['jobId', 'jobConfigId', 'entryPoint', 'specDir', 'outDir'])
    if (!isString(v[k])) fail(`${k}: not a string`);
  if (!isString(v.logLevel) || !LOG_LEVELS.has(v.logLevel)) fail('logLevel: not a log level');
  if (!isObject(v.macros) || !Object.values(v.macros).every(isString)) fail('macros: not a map of strings');
  if (v.workDir !== undefined && !isString(v.workDir)) fail('workDir: not a string');
  let objectStorage: ObjectStorageAccess | undefined;
  if (v.objectStorage !== undefined) {
    const o = objectStorageAccess(v.objectStorage);
    if (typeof o === 'string') return fail(o);
    objectStorage = o;
  }
  return {
    version: 1,
    jobId: v.jobId as string,
    jobConfigId: v.jobConfigId as string,
    entryPoint: v.entryPoint as string,
    specDir: v.specDir as string,
    outDir: v.outDir as string,
    logLevel: v.logLevel as LogLevel,
    macros: { ...(v.macros as Record<string, string>) },
    ...(v.workDir !== undefined ? { workDir: v.workDir as string } : {}),
    ...(objectStorage ? { objectStorage } : {}),
  };
}

/** An IPC message of the executor, or null for anything else (a package may call process.send itself). */
export function parseExecutorMessage(m: unknown): ExecutorMessage | null {
  if (!isObject(m)) return null;
  if (m.type === 'step' && isString(m.name)) return { type: 'step', name: m.name };
  if (m.type === 'fatal' && isString(m.message)) return { type: 'fatal', message: m.message };
  if (m.type === 'ready') return { type: 'ready' };
  return null;
}

/** Sources a child may not claim: those lines come from the runner itself. */
export const RESERVED_SOURCES: ReadonlySet<string> = new Set(['runner']);

/** ASCII record separator + tag: marks a line the executor wrote with a level and a source. */
const RECORD_MARK = '\u001eim\t';

export interface LogRecord {
  level: LogLevel;
  source: string;
  text: string;
}

/** One or more stdout lines (newline-terminated) for a record; a multi-line text becomes several. */
export function encodeLogRecord(level: LogLevel, source: string, text: string): string {
  const src = source.replace(/[\t\r\n]/g, ' ');
  return text
    .split(/\r?\n/)
    .map((line) => `${RECORD_MARK}${level}\t${src}\t${line}\n`)
    .join('');
}

/** The record a line carries, or null for a plain line. */
export function decodeLogRecord(line: string): LogRecord | null {
  if (!line.startsWith(RECORD_MARK)) return null;
  const rest = line.slice(RECORD_MARK.length);
  const a = rest.indexOf('\t');
  const b = a < 0 ? -1 : rest.indexOf('\t', a + 1);
  if (b < 0) return null;
  const level = rest.slice(0, a);
  if (!LOG_LEVELS.has(level)) return null;
  return { level: level as LogLevel, source: rest.slice(a + 1, b), text: rest.slice(b + 1) };
}
