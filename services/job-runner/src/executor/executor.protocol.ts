import { LogLevel, z } from '@im/contracts';

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

export const EXIT_PACKAGE_FAILED = 1;
export const EXIT_INVALID_DEFINITION = 2;
export const EXIT_INTERNAL = 70;

/**
 * How packages reach object storage: an S3-compatible server (one client per bucket named in a
 * `s3://bucket/key` URL), or, when the platform runs on local storage, one directory per bucket
 * under `bucketsRoot`. The credentials are the ones the runner hands to packages.
 */
export const ObjectStorageAccess = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('s3'),
    endpoint: z.string().optional(),
    region: z.string(),
    accessKeyId: z.string(),
    secretAccessKey: z.string(),
    forcePathStyle: z.boolean(),
  }),
  z.object({ kind: z.literal('local'), bucketsRoot: z.string() }),
]);
export type ObjectStorageAccess = z.infer<typeof ObjectStorageAccess>;

export const ExecutorSpec = z.object({
  version: z.literal(1),
  jobId: z.string(),
  jobConfigId: z.string(),
  /** Absolute path of the entry point, inside specDir. */
  entryPoint: z.string(),
  /** Where the package is unpacked (the child's cwd). */
  specDir: z.string(),
  /** Files written here become the job's output files. */
  outDir: z.string(),
  logLevel: LogLevel,
  /** Built-in macros plus the request's; built-ins win. */
  macros: z.record(z.string(), z.string()),
  /**
   * Optional: the attempt's scratch directory (the runner's `tmp/` of the attempt). Steps may write
   * there (`saveTo`, targets, rejects) besides outDir; files there are not output files. Also
   * offered as the macro LOCAL_JOB_WORK_DIR when the runner does not define it. Absent: steps may
   * write to outDir only.
   */
  workDir: z.string().optional(),
  /**
   * Optional: the object storage that `object` connectors (`s3://bucket/key`) reach. Absent: the
   * `object` connector fails with a message saying that this runner offers no object storage.
   */
  objectStorage: ObjectStorageAccess.optional(),
});
export type ExecutorSpec = z.infer<typeof ExecutorSpec>;

export const ExecutorMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('step'), name: z.string() }),
  z.object({ type: z.literal('fatal'), message: z.string() }),
]);
export type ExecutorMessage = z.infer<typeof ExecutorMessage>;

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
  const level = LogLevel.safeParse(rest.slice(0, a));
  if (!level.success) return null;
  return { level: level.data, source: rest.slice(a + 1, b), text: rest.slice(b + 1) };
}
