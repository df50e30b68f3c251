/**
 * The executor: the program the runner forks for each job (compiled to dist/executor/child.js).
 * It reads its spec from the file named by IM_EXECUTOR_SPEC, runs the entry point and exits with a
 * code the runner maps to a status. See executor.protocol.ts for the protocol.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createExecutorLogger, logPackageError, type ExecutorLogger } from './executor.logger';
import {
  EXECUTOR_SPEC_ENV,
  EXECUTOR_WAIT_ENV,
  EXIT_INTERNAL,
  EXIT_INVALID_DEFINITION,
  EXIT_PACKAGE_FAILED,
  encodeLogRecord,
  parseExecutorSpec,
  type ExecutorMessage,
  type ExecutorSpec,
} from './executor.protocol';
import { importDefaultFunction } from './package-file.resolver';
import { createScriptContext } from './script.context';

/**
 * The machinery of process definitions (steps, connectors, zod, JSONata, the AWS SDK, pg): ~0.3 s
 * to load, so a cold executor loads it only for a `.process` entry point, and a warm one while it
 * waits for its job (ADR 0007).
 */
export function processMachinery() {
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded on demand, see above */
  return {
    ...(require('./object-storage.provider') as typeof import('./object-storage.provider')),
    ...(require('./process-definition.parser') as typeof import('./process-definition.parser')),
    ...(require('./process.executor') as typeof import('./process.executor')),
    ...(require('./process.loader') as typeof import('./process.loader')),
    ...(require('./steps/builtin.steps') as typeof import('./steps/builtin.steps')),
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
}

const pendingSends = new Set<Promise<void>>();

function send(message: ExecutorMessage): Promise<void> {
  if (!process.send || !process.connected) return Promise.resolve();
  const p = new Promise<void>((resolve) => {
    process.send?.(message, undefined, {}, () => resolve());
  }).finally(() => pendingSends.delete(p));
  pendingSends.add(p);
  return p;
}

let exiting = false;

/** Exits once stdout, stderr and IPC have been handed everything written so far. */
async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  await Promise.all([...pendingSends]);
  await new Promise<void>((r) => process.stdout.write('', () => r()));
  await new Promise<void>((r) => process.stderr.write('', () => r()));
  process.exit(code);
}

function exitCodeSetByPackage(): number {
  const c: unknown = process.exitCode;
  if (c === undefined || c === null || c === '') return 0;
  const n = typeof c === 'number' ? c : typeof c === 'string' ? Number.parseInt(c, 10) : Number.NaN;
  return Number.isInteger(n) ? n & 0xff : EXIT_PACKAGE_FAILED;
}

async function loadSpec(): Promise<ExecutorSpec> {
  const file = process.env[EXECUTOR_SPEC_ENV];
  if (!file)
    throw new Error(`${EXECUTOR_SPEC_ENV} is not set: the executor is started by the job runner only.`);
  delete process.env[EXECUTOR_SPEC_ENV];
  const spec = parseExecutorSpec(JSON.parse(await fs.readFile(file, 'utf8')));
  // The work dir as a macro, unless the runner defines it already.
  if (spec.workDir && !Object.hasOwn(spec.macros, 'LOCAL_JOB_WORK_DIR'))
    spec.macros = { ...spec.macros, LOCAL_JOB_WORK_DIR: spec.workDir };
  return spec;
}

async function runEntryPoint(spec: ExecutorSpec, logger: ExecutorLogger): Promise<number> {
  const label = path.relative(spec.specDir, spec.entryPoint).split(path.sep).join('/');
  if (/\.process$/i.test(spec.entryPoint)) {
    const { ProcessLibrary, BUILTIN_STEPS, DefinitionError, createObjectStorageProvider, runProcess } =
      processMachinery();
    const library = new ProcessLibrary(spec.specDir, new Map(Object.entries(spec.macros)), BUILTIN_STEPS);
    let def;
    try {
      def = await library.loadEntryPoint(spec.entryPoint);
    } catch (err) {
      if (!(err instanceof DefinitionError)) throw err;
      logger.severe(err.title);
      for (const p of err.problems) logger.severe(`  ${p}`);
      return EXIT_INVALID_DEFINITION;
    }
    const objectStorage = createObjectStorageProvider(spec.objectStorage);
    try {
      const ok = await runProcess(def, {
        spec,
        logger,
        announceStep: (name) => send({ type: 'step', name }),
        library,
        objectStorage,
      });
      return ok ? exitCodeSetByPackage() : EXIT_PACKAGE_FAILED;
    } finally {
      await objectStorage.close();
    }
  }
  if (/\.m?js$/i.test(spec.entryPoint)) {
    const entry = logger.child('entry');
    try {
      const fn = await importDefaultFunction(spec.entryPoint);
      if (fn) await fn(createScriptContext(spec, entry));
    } catch (err) {
      logPackageError(entry, '', err);
      return EXIT_PACKAGE_FAILED;
    }
    return exitCodeSetByPackage();
  }
  logger.severe(`${label} is neither a process definition (.process) nor a Node script (.js, .mjs).`);
  return EXIT_INVALID_DEFINITION;
}

function fatal(err: unknown): void {
  const message = `executor failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
  process.stderr.write(encodeLogRecord('SEVERE', 'executor', message));
  void send({ type: 'fatal', message }).finally(() => exit(EXIT_INTERNAL));
}

/**
 * How long a warm executor waits for a job before it loads the process machinery (~0.2 s of CPU):
 * long enough that under a steady stream of jobs, when the CPU is busy, none is loaded in vain.
 */
const PRELOAD_AFTER_IDLE_MS = 10_000;

/**
 * A warm executor (started before its job, see warm-executors.ts) has its code loaded already; it
 * says so and waits for the runner's `go`, sent once the job's spec file is written. A cold one goes
 * at once.
 */
function whenToldToGo(): Promise<void> {
  if (process.env[EXECUTOR_WAIT_ENV] !== '1') return Promise.resolve();
  delete process.env[EXECUTOR_WAIT_ENV];
  return new Promise((resolve) => {
    // While waiting, the IPC channel is what keeps the process alive.
    process.channel?.ref();
    // An executor left waiting a while loads the process machinery too, so a .process job finds it
    // loaded; one taken at once (jobs arriving back to back) is ready sooner without it.
    const preload = setTimeout(() => processMachinery(), PRELOAD_AFTER_IDLE_MS);
    const onMessage = (m: unknown) => {
      if ((m as { type?: unknown } | null)?.type !== 'go') return;
      clearTimeout(preload);
      process.off('message', onMessage);
      process.channel?.unref();
      resolve();
    };
    process.on('message', onMessage);
    void send({ type: 'ready' });
  });
}

function main(): void {
  // Orphan protection: when the runner goes away, so does the job. The listener refs the IPC
  // channel; unref it so a package that leaves nothing to do still lets the loop drain (beforeExit).
  process.on('disconnect', () => process.exit(EXIT_INTERNAL));
  process.channel?.unref();

  let logger = createExecutorLogger('INFO', 'executor');
  let settled = false;
  const packageFailure = (what: string) => (err: unknown) => {
    if (exiting) return;
    logPackageError(logger.child('entry'), `${what}: `, err);
    void exit(EXIT_PACKAGE_FAILED);
  };
  process.on('uncaughtException', packageFailure('uncaught exception'));
  process.on('unhandledRejection', packageFailure('unhandled promise rejection'));
  process.on('beforeExit', () => {
    if (settled || exiting) return;
    logger.severe('the entry point never finished: it awaits a promise that nothing is left to settle');
    void exit(EXIT_PACKAGE_FAILED);
  });

  whenToldToGo()
    .then(loadSpec)
    .then(async (spec) => {
      logger = createExecutorLogger(spec.logLevel, 'executor');
      const code = await runEntryPoint(spec, logger);
      settled = true;
      await exit(code);
    })
    .catch((err: unknown) => {
      settled = true;
      fatal(err);
    });
}

if (require.main === module) main();
