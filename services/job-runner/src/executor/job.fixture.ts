/**
 * Test support: a job directory (package, out and work dirs) in a temp dir, a logger that keeps the
 * lines, and a way to run a process definition in-process as the executor would. Used by the
 * executor's unit and integration tests only.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createExecutorLogger, type ExecutorLogger } from './executor.logger';
import { decodeLogRecord, type ExecutorSpec, type ObjectStorageAccess } from './executor.protocol';
import { createObjectStorageProvider, type ObjectStorageProvider } from './object-storage.provider';
import { DefinitionError } from './process-definition.parser';
import { runProcess } from './process.executor';
import { ProcessLibrary } from './process.loader';
import type {
  ConnectorContext,
  ConnectorHandler,
  LoadReject,
  SourceItem,
} from './connectors/connector.registry';
import type { StepContext, StepRegistry } from './step.registry';
import { BUILTIN_STEPS } from './steps/builtin.steps';

export interface JobFixture {
  dir: string;
  spec: ExecutorSpec;
  /** Every log line so far, as `LEVEL [source] text`. */
  lines: string[];
  logger: ExecutorLogger;
  objectStorage: ObjectStorageProvider;
  /** Writes a file of the package. */
  write(file: string, content: string | Buffer): Promise<string>;
  /** Reads a file of the out dir (null when it does not exist). */
  readOut(file: string): Promise<string | null>;
  /** A step context, as the executor gives a top-level step. */
  context(stepPath?: string): StepContext;
  /** Runs `main.process` (written first when `text` is given); the definition problems, if any. */
  run(text?: string): Promise<{ ok: boolean; problems: readonly string[] | null }>;
  cleanup(): Promise<void>;
}

export async function createJobFixture(
  options: {
    macros?: Record<string, string>;
    objectStorage?: ObjectStorageAccess;
    registry?: StepRegistry;
  } = {},
): Promise<JobFixture> {
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'im-exec-')));
  const specDir = path.join(dir, 'spec');
  const outDir = path.join(dir, 'out');
  const workDir = path.join(dir, 'tmp');
  for (const d of [specDir, outDir, workDir]) await fs.mkdir(d);
  const spec: ExecutorSpec = {
    version: 1,
    jobId: 'job-1',
    jobConfigId: 'cfg-1',
    entryPoint: path.join(specDir, 'main.process'),
    specDir,
    outDir,
    workDir,
    logLevel: 'DEBUG',
    macros: {
      JOB_ID: 'job-1',
      JOB_CONFIG_ID: 'cfg-1',
      LOCAL_JOB_SPEC_DIR: specDir,
      LOCAL_JOB_OUT_DIR: outDir,
      LOCAL_JOB_WORK_DIR: workDir,
      ...options.macros,
    },
    ...(options.objectStorage ? { objectStorage: options.objectStorage } : {}),
  };
  const lines: string[] = [];
  const logger = createExecutorLogger('DEBUG', 'executor', (chunk) => {
    for (const line of chunk.split('\n')) {
      const r = line ? decodeLogRecord(line) : null;
      if (r) lines.push(`${r.level} [${r.source}] ${r.text}`);
    }
  });
  const objectStorage = createObjectStorageProvider(spec.objectStorage);
  const registry = options.registry ?? BUILTIN_STEPS;
  const fixture: JobFixture = {
    dir,
    spec,
    lines,
    logger,
    objectStorage,
    async write(file, content) {
      const abs = path.join(specDir, file);
      await fs.mkdir(path.dirname(abs), { recursive: true });
      await fs.writeFile(abs, content);
      return abs;
    },
    async readOut(file) {
      return fs.readFile(path.join(outDir, file), 'utf8').catch(() => null);
    },
    context(stepPath = 'step') {
      return {
        spec,
        logger: logger.child(`step:${stepPath}`),
        path: stepPath,
        depth: 0,
        services: {
          objectStorage: (bucket) => objectStorage.get(bucket),
          runSubprocess: () => Promise.reject(new Error('no subprocess in a bare step context')),
        },
      };
    },
    async run(text) {
      if (text !== undefined) await fixture.write('main.process', text);
      const library = new ProcessLibrary(specDir, new Map(Object.entries(spec.macros)), registry);
      let def;
      try {
        def = await library.loadEntryPoint(spec.entryPoint);
      } catch (err) {
        if (!(err instanceof DefinitionError)) throw err;
        return { ok: false, problems: [err.title, ...err.problems] };
      }
      const ok = await runProcess(def, {
        spec,
        logger,
        announceStep: async () => undefined,
        library,
        objectStorage,
      });
      return { ok, problems: null };
    },
    async cleanup() {
      await objectStorage.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** A connector context for a step named `load` of the fixture's job. */
export function connectorContext(f: JobFixture, stepPath = 'load'): ConnectorContext {
  const ctx = f.context(stepPath);
  return { spec: ctx.spec, logger: ctx.logger, services: ctx.services, stepPath };
}

function fail(issues: readonly { path: PropertyKey[]; message: string }[]): never {
  throw new Error(
    `invalid connector settings: ${issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ')}`,
  );
}

/** Every item a connector's source yields for these settings (`connector` left out). */
export async function readAll(
  f: JobFixture,
  handler: ConnectorHandler,
  settings: Record<string, unknown>,
): Promise<SourceItem[]> {
  const parsed = handler.source?.parse(settings);
  if (!parsed) throw new Error(`${handler.name} has no source`);
  if (!parsed.ok) fail(parsed.issues);
  const out: SourceItem[] = [];
  for await (const item of parsed.bound.open(connectorContext(f))) out.push(item);
  return out;
}

/** Writes rows through a connector's target and closes it; the rows it rejected. */
export async function writeAll(
  f: JobFixture,
  handler: ConnectorHandler,
  settings: Record<string, unknown>,
  rows: readonly unknown[],
): Promise<LoadReject[]> {
  const parsed = handler.target?.parse(settings);
  if (!parsed) throw new Error(`${handler.name} has no target`);
  if (!parsed.ok) fail(parsed.issues);
  const sink = await parsed.bound.open(connectorContext(f));
  const rejects: LoadReject[] = [];
  try {
    for (const [i, row] of rows.entries()) rejects.push(...(await sink.write(row, `row ${i + 1}`)));
    rejects.push(...(await sink.close()));
  } catch (err) {
    await sink.abort();
    throw err;
  }
  return rejects;
}

/** The parse problems of connector settings as `path: message`, or [] when they are valid. */
export function settingsProblems(
  handler: ConnectorHandler,
  role: 'source' | 'target',
  settings: Record<string, unknown>,
): string[] {
  const parsed = handler[role]?.parse(settings);
  if (!parsed) throw new Error(`${handler.name} has no ${role}`);
  if (parsed.ok) return [];
  return parsed.issues.map((i) =>
    i.code === 'unrecognized_keys'
      ? `${i.keys.join(', ')}: unknown field`
      : `${i.path.map(String).join('.')}: ${i.message}`,
  );
}
