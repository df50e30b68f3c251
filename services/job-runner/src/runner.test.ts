import { encryptSecret, parseKeyring } from '@im/config';
import { packageArchiveKey, type JobProgress, type JobRequested } from '@im/contracts';
import { silentLogger } from '@im/logging';
import { InProcessEventBus, partitionFor } from '@im/messaging';
import { LocalObjectStorage, type ObjectStorage } from '@im/storage';
import { buildZip, patchZipNames, waitFor } from '@im/testing';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import {
  cancel,
  closeHarnesses,
  createHarness,
  EXECUTOR,
  jobRequest,
  listTree,
  PREFIX,
  readText,
  requireExecutor,
  TERMINAL,
  type Harness,
} from './runner.harness';
import { JobRunner } from './runner';

jest.setTimeout(30_000);

/** Tests run the compiled executor: `npx tsc -b services/job-runner` first. */
afterEach(closeHarnesses);
beforeAll(requireExecutor);
const SAMPLE_PROCESS = `
name: integrate XYZ
steps:
  - name: greet
    type: log
    message: "starting job $(JOB_ID) of configuration $(JOB_CONFIG_ID) for $(CUSTOMER), password $(PASSWORD)"
  - name: quiet
    type: log
    level: DEBUG
    message: "only at DEBUG"
  - name: summarize
    type: script
    file: scripts/summarize.mjs
  - name: done
    type: log
    message: "summary written to $(LOCAL_JOB_OUT_DIR)/summary.json"
`;

const SUMMARIZE = `
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
export default async function summarize({ inputDir, outputDir, logger, jobId, macros }) {
  const csv = await readFile(join(inputDir, 'data', 'customers.csv'), 'utf8');
  const rows = csv.trim().split('\\n').slice(1);
  logger.info('read ' + rows.length + ' customers; secret ' + macros.PASSWORD);
  logger.debug('a debug line of the script');
  console.log('plain stdout line');
  console.error('plain stderr line');
  await writeFile(join(outputDir, 'summary.json'), JSON.stringify({ jobId, customers: rows.length }));
  await mkdir(join(outputDir, 'nested', 'deep'), { recursive: true });
  await writeFile(join(outputDir, 'nested', 'deep', 'note.txt'), 'deep');
}
`;

const NEVER_ENDS = `export default async function () { setInterval(() => {}, 1000); await new Promise(() => {}); }`;

describe('JobRunner', () => {
  it('runs a process with log and script steps: FINISHED, macros substituted, secrets masked, outputs uploaded, log before terminal', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.process': SAMPLE_PROCESS,
      'scripts/summarize.mjs': SUMMARIZE,
      'data/customers.csv': 'ID,Name\n1,Ada\n2,Alan\n',
    });
    const req = jobRequest({
      macros: [
        { key: 'CUSTOMER', value: 'ACME', secure: false },
        { key: 'PASSWORD', value: 's3cr3t-P@ss', secure: true },
        { key: 'JOB_ID', value: 'forged', secure: false },
      ],
    });

    const terminal = await h.run(req);

    expect(terminal).toMatchObject({
      status: 'FINISHED',
      reason: null,
      returnCode: 0,
      currentStep: 'done',
      runnerId: 'runner-1',
    });
    expect(Number.isNaN(Date.parse(terminal.occurredAt))).toBe(false);
    expect(h.statuses(req.jobId)).toEqual([
      'INITIALIZING',
      'RUNNING',
      'RUNNING:greet',
      'RUNNING:quiet',
      'RUNNING:summarize',
      'RUNNING:done',
      'FINISHED',
    ]);

    const log = h.logAtTerminal.get(req.jobId) ?? '';
    // The final upload happened before the terminal progress: the log is complete at that moment.
    expect(log).toContain('[runner] job FINISHED');
    expect(log).toContain(`INFO  [runner] job ${req.jobId} attempt 1 on runner runner-1`);
    expect(log).toMatch(/\[runner\] package cache miss: pkg\.djar fetched, \d+ bytes in \d+ ms/);
    expect(log).toMatch(/\[runner\] unpacked 3 entries/);
    expect(log).toContain('[runner] starting entry point main.process');
    expect(log).toMatch(/\[runner\] finished with exit code 0 in \d+ ms/);
    expect(log).toContain(
      'WARNING [runner] macro JOB_ID of the configuration or run request ignored: it is built in',
    );
    expect(log).toContain(
      `INFO  [step:greet] starting job ${req.jobId} of configuration cfg-1 for ACME, password ****`,
    );
    expect(log).toContain('INFO  [step:summarize] read 2 customers; secret ****');
    expect(log).toContain('INFO  [entry] plain stdout line');
    expect(log).toContain('WARNING [entry] plain stderr line');
    expect(log).toMatch(/\[step:done\] summary written to \/.+\/out\/summary\.json/);
    expect(log).not.toContain('s3cr3t-P@ss');
    expect(log).not.toContain('forged');
    expect(log).not.toContain('only at DEBUG');
    expect(log).not.toContain('a debug line of the script');
    for (const line of log.trimEnd().split('\n'))
      expect(line).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (SEVERE|WARNING|INFO |DEBUG) \[[^\]]+\] /,
      );

    const outputs: string[] = [];
    for await (const o of h.storage.list(req.outPrefix)) outputs.push(o.key);
    expect(outputs).toEqual([
      `jobs/${req.jobId}/out/nested/deep/note.txt`,
      `jobs/${req.jobId}/out/summary.json`,
    ]);
    expect(JSON.parse((await readText(h.storage, `${req.outPrefix}summary.json`)) ?? '')).toEqual({
      jobId: req.jobId,
      customers: 2,
    });

    // The attempt's directory is gone; the package cache stays.
    expect(await fs.readdir(h.workDir)).toEqual(['cache']);
  });

  it('writes DEBUG lines when the job asks for DEBUG', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.mjs': `export default async ({ logger }) => { logger.debug('debug detail'); logger.warn('careful'); }`,
    });
    const req = jobRequest({ entryPoint: 'main.mjs', logLevel: 'DEBUG' });
    expect(await h.run(req)).toMatchObject({ status: 'FINISHED' });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toContain('DEBUG [entry] debug detail');
    expect(log).toContain('WARNING [entry] careful');
  });

  it('fails a process with an unresolved macro before any step runs, naming the macro, step and field', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.process':
        'steps:\n  - name: first\n    type: log\n    message: "first step ran"\n  - name: greet\n    type: log\n    message: "hello $(FOO)"\n',
    });
    const req = jobRequest();
    const terminal = await h.run(req);
    expect(terminal).toMatchObject({ status: 'ERROR', reason: null, returnCode: 2, currentStep: null });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    // The executor may number the step ("step 2 'greet'"); the wording is the executor's.
    expect(log).toMatch(
      /SEVERE \[executor\] {3}Unresolved macro \$\(FOO\) in step (\d+ )?'greet' field 'message'/,
    );
    expect(log).not.toContain('first step ran');
    expect(h.statuses(req.jobId)).toEqual(['INITIALIZING', 'RUNNING', 'ERROR']);
  });

  it('fails an invalid process definition naming the step and the field', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.process':
        'steps:\n  - name: ok\n    type: log\n    message: fine\n  - name: greet\n    type: log\n    mesage: typo\n  - name: load\n    type: transfrom\n',
    });
    const req = jobRequest();
    expect(await h.run(req)).toMatchObject({ status: 'ERROR', returnCode: 2 });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toContain('SEVERE [executor] Invalid process definition main.process:');
    expect(log).toMatch(/step (\d+ )?'greet' field 'mesage': unknown field/);
    expect(log).toMatch(/step (\d+ )?'greet' field 'message': /);
    expect(log).toMatch(
      /step (\d+ )?'load' field 'type': unknown step type 'transfrom' \(known types: [^)]*\blog\b[^)]*\bscript\b/,
    );
    expect(log).not.toContain('[step:ok] fine');
  });

  it('reports a failing step with its message, and goes on past a step with onError: continue', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.process': [
        'steps:',
        '  - name: flaky',
        '    type: script',
        '    file: fail.mjs',
        '    onError: continue',
        '  - name: escape',
        '    type: script',
        '    file: ../outside.mjs',
        '  - name: never',
        '    type: log',
        '    message: not reached',
      ].join('\n'),
      'fail.mjs': `export default async () => { throw new Error('flaky failed'); }`,
    });
    const req = jobRequest();
    expect(await h.run(req)).toMatchObject({ status: 'ERROR', returnCode: 1, currentStep: 'escape' });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toContain(
      "WARNING [executor] step 'flaky' failed (onError: continue, going on): flaky failed",
    );
    expect(log).toContain(
      "SEVERE [executor] step 'escape' failed: '../outside.mjs' must be a relative path inside the package",
    );
    expect(log).not.toContain('not reached');
  });

  it('reports an .mjs entry point that throws as ERROR with its message (no stack below DEBUG)', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.mjs': `export default async function () { throw new Error('boom: the CSV is missing'); }`,
    });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(req)).toMatchObject({ status: 'ERROR', reason: null, returnCode: 1 });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toContain('SEVERE [entry] boom: the CSV is missing');
    expect(log).not.toMatch(/\n\S+ \S+ +\[entry\] +at /);
  });

  it('respects process.exitCode set by a CommonJS entry point', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.js': `module.exports = async function (ctx) { ctx.logger.info('cjs ran'); process.exitCode = 3; };`,
    });
    const req = jobRequest({ entryPoint: 'main.js' });
    expect(await h.run(req)).toMatchObject({ status: 'ERROR', returnCode: 3 });
    expect(h.logAtTerminal.get(req.jobId)).toContain('INFO  [entry] cjs ran');
  });

  it('reports a non-zero process.exit as ERROR with that return code', async () => {
    const h = await createHarness();
    await h.putPackage({ 'main.mjs': `console.log('exiting'); process.exit(5);` });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(req)).toMatchObject({ status: 'ERROR', returnCode: 5 });
    expect(h.logAtTerminal.get(req.jobId)).toMatch(/finished with exit code 5 in/);
  });

  it('reports an entry point that awaits forever with nothing left to run as ERROR', async () => {
    const h = await createHarness();
    await h.putPackage({ 'main.mjs': `export default () => new Promise(() => {});` });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(req)).toMatchObject({ status: 'ERROR', returnCode: 1 });
    expect(h.logAtTerminal.get(req.jobId)).toContain('the entry point never finished');
  });

  it('refuses a zip-slip entry: FAILED package-unusable, nothing written outside, never RUNNING', async () => {
    const h = await createHarness();
    const zip = patchZipNames(
      await buildZip({ 'main.process': 'steps: []', 'xx/evil.txt': 'pwned' }),
      'xx/evil.txt',
      '../evil.txt',
    );
    await h.putPackage(zip);
    const req = jobRequest();
    expect(await h.run(req)).toMatchObject({
      status: 'FAILED',
      reason: 'package-unusable',
      returnCode: null,
    });
    expect(h.statuses(req.jobId)).toEqual(['INITIALIZING', 'FAILED']);
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toContain(
      'SEVERE [runner] the package cannot be used: unsafe entry in the package: invalid relative path: ../evil.txt',
    );
    expect(log).toContain('SEVERE [runner] to fix: rebuild the package');
    expect((await listTree(h.dir)).filter((p) => p.includes('evil'))).toEqual([]);
  });

  it('fails with package-unusable when the package is missing or the entry point is not in it', async () => {
    const h = await createHarness();
    const missing = jobRequest({ packageName: 'nope.djar' });
    expect(await h.run(missing)).toMatchObject({ status: 'FAILED', reason: 'package-unusable' });
    expect(h.logAtTerminal.get(missing.jobId)).toContain(
      "the package 'nope.djar' is not among the configuration's files",
    );

    await h.putPackage({ 'main.process': 'steps: []' });
    const noEntry = jobRequest({ entryPoint: 'other.process' });
    expect(await h.run(noEntry)).toMatchObject({ status: 'FAILED', reason: 'package-unusable' });
    expect(h.logAtTerminal.get(noEntry.jobId)).toContain(
      "the entry point 'other.process' is not in the package",
    );
    expect(h.logAtTerminal.get(noEntry.jobId)).toContain(
      "to fix: fix the configuration's runtimeConfig.entryPoint",
    );

    const notZip = jobRequest({ packageName: 'broken.djar' });
    await h.storage.put(`${PREFIX}/broken.djar`, Readable.from([Buffer.from('not a zip')]));
    expect(await h.run(notZip)).toMatchObject({ status: 'FAILED', reason: 'package-unusable' });
    expect(h.logAtTerminal.get(notZip.jobId)).toContain('the package is not a readable zip archive');
  });

  it('keeps the exact package it runs by its sha256 (once per version) and reports it with RUNNING', async () => {
    const h = await createHarness();
    const zip = await buildZip({ 'main.mjs': `export default async ({ logger }) => logger.info('ran');` });
    await h.putPackage(zip);
    const sha256 = createHash('sha256').update(zip).digest('hex');
    const puts = jest.spyOn(h.storage, 'put');
    const first = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(first)).toMatchObject({ status: 'FINISHED' });
    const running = h.progress.find((p) => p.jobId === first.jobId && p.status === 'RUNNING');
    expect(running?.packageSha256).toBe(sha256);
    const kept = await h.storage.get(packageArchiveKey(sha256));
    const chunks: Buffer[] = [];
    for await (const c of kept!.body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(zip)).toBe(true);
    // The same version again: reported, not stored a second time.
    const second = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(second)).toMatchObject({ status: 'FINISHED' });
    expect(h.progress.find((p) => p.jobId === second.jobId && p.status === 'RUNNING')?.packageSha256).toBe(
      sha256,
    );
    expect(puts.mock.calls.filter(([key]) => key === packageArchiveKey(sha256))).toHaveLength(1);
  });

  it('copies the configuration files over the package with packageArtifactOverride', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.mjs': `import { readFile } from 'node:fs/promises'; export default async ({ logger }) => { logger.info('data: ' + (await readFile('data/in.csv', 'utf8'))); logger.info('extra: ' + (await readFile('extra.txt', 'utf8'))); };`,
      'data/in.csv': 'from package',
    });
    await h.storage.put(`${PREFIX}/data/in.csv`, Readable.from([Buffer.from('from configuration')]));
    await h.storage.put(`${PREFIX}/extra.txt`, Readable.from([Buffer.from('extra file')]));
    const req = jobRequest({ entryPoint: 'main.mjs', packageArtifactOverride: true });
    expect(await h.run(req)).toMatchObject({ status: 'FINISHED' });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toContain(
      'packageArtifactOverride: copied 2 configuration file(s) into the package: data/in.csv, extra.txt',
    );
    expect(log).toContain('INFO  [entry] data: from configuration');
    expect(log).toContain('INFO  [entry] extra: extra file');
  });

  it('stops a job at its timeout: FAILED timeout', async () => {
    const h = await createHarness({ timeoutUnitMs: 300 });
    await h.putPackage({ 'main.mjs': NEVER_ENDS });
    const req = jobRequest({ entryPoint: 'main.mjs', timeoutMinutes: 1 });
    expect(await h.run(req)).toMatchObject({ status: 'FAILED', reason: 'timeout' });
    expect(h.logAtTerminal.get(req.jobId)).toContain(
      'SEVERE [runner] timeout of 1 minute(s) reached; stopping the job',
    );
    expect(h.logAtTerminal.get(req.jobId)).toContain('finished with signal SIGTERM');
  });

  it('stops a running job on a cancel: FAILED stopped-by-user', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.process': 'steps:\n  - name: wait\n    type: script\n    file: wait.mjs\n',
      'wait.mjs': NEVER_ENDS,
    });
    const req = jobRequest();
    const terminal = h.next((p) => p.jobId === req.jobId && TERMINAL.has(p.status));
    await h.bus.publish('job.requests', req);
    await h.next((p) => p.jobId === req.jobId && p.currentStep === 'wait');
    await h.bus.publish('job.cancel', { ...cancel(req), attempt: 2, stoppedByUserId: 'wrong-attempt' }); // ignored
    await h.bus.publish('job.cancel', cancel(req));
    expect(await terminal).toMatchObject({
      status: 'FAILED',
      reason: 'stopped-by-user',
      currentStep: 'wait',
    });
    expect(h.logAtTerminal.get(req.jobId)).toContain(
      'WARNING [runner] stop requested by user u-1; stopping the job',
    );
    expect(h.logAtTerminal.get(req.jobId)).not.toContain('wrong-attempt');
  });

  it('aborts a job cancelled while INITIALIZING before it runs', async () => {
    const stalled = new PassThrough(); // a package download that never completes until aborted
    const h = await createHarness({}, (storage) => {
      const gated = Object.create(storage) as ObjectStorage;
      gated.get = async (key, range) => {
        if (key !== `${PREFIX}/pkg.djar`) return storage.get(key, range);
        const info = { key, size: 1000, lastModified: new Date(), etag: 'x', contentType: 'application/zip' };
        return { info, body: stalled };
      };
      return gated;
    });
    const req = jobRequest();
    const terminal = h.next((p) => p.jobId === req.jobId && TERMINAL.has(p.status));
    await h.bus.publish('job.requests', req);
    await h.next((p) => p.jobId === req.jobId && p.status === 'INITIALIZING');
    await h.bus.publish('job.cancel', cancel(req));
    expect(await terminal).toMatchObject({ status: 'FAILED', reason: 'stopped-by-user' });
    expect(h.statuses(req.jobId)).toEqual(['INITIALIZING', 'FAILED']);
  });

  it('does not run a request whose cancel arrived first', async () => {
    const h = await createHarness();
    await h.putPackage({ 'main.mjs': `export default async ({ logger }) => logger.info('ran');` });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    await h.bus.publish('job.cancel', cancel(req));
    await h.bus.idle();
    await h.bus.publish('job.requests', req);
    await h.bus.idle();
    expect(h.statuses(req.jobId)).toEqual([]);
    expect(h.runner.activeJobs).toBe(0);
  });

  it('ignores a redelivered request for an attempt it ran, reporting the outcome again', async () => {
    const h = await createHarness();
    await h.putPackage({ 'main.mjs': `export default async ({ logger }) => logger.info('ran once');` });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    await h.bus.publish('job.requests', req);
    await h.bus.publish('job.requests', req); // while it runs: ignored
    await h.next((p) => p.jobId === req.jobId && TERMINAL.has(p.status));
    await h.bus.idle();
    expect(h.statuses(req.jobId)).toEqual(['INITIALIZING', 'RUNNING', 'FINISHED']);
    await h.bus.publish('job.requests', req); // after it ran: the outcome again, no second run
    const second = await h.next(
      (p) =>
        p.jobId === req.jobId &&
        TERMINAL.has(p.status) &&
        h.progress.filter((q) => q.jobId === req.jobId && TERMINAL.has(q.status)).length === 2,
    );
    expect(second.status).toBe('FINISHED');
    expect(h.statuses(req.jobId)).toEqual(['INITIALIZING', 'RUNNING', 'FINISHED', 'FINISHED']);
  });

  it('runs at most `slots` jobs at once', async () => {
    // A strictly increasing clock orders the runner's messages whatever partition delivers them.
    let tick = Date.parse('2026-11-28T10:00:00.000Z');
    const h = await createHarness({ slots: 1, clock: () => new Date(tick++) });
    await h.putPackage({ 'main.mjs': `export default async ({ logger }) => logger.info('hi');` });
    // Two jobs on different partitions, so only the slot can serialize them.
    const a = jobRequest({ entryPoint: 'main.mjs' });
    let b = jobRequest({ entryPoint: 'main.mjs' });
    while (partitionFor(b.jobId, 4) === partitionFor(a.jobId, 4)) b = jobRequest({ entryPoint: 'main.mjs' });
    await Promise.all([h.run(a), h.run(b)]);
    const order = h.progress
      .filter((p) => p.jobId === a.jobId || p.jobId === b.jobId)
      .sort((x, y) => Date.parse(x.occurredAt) - Date.parse(y.occurredAt))
      .map((p) => `${p.jobId === a.jobId ? 'a' : 'b'}:${p.status}`);
    const [x, y] = order[0]?.startsWith('a') ? ['a', 'b'] : ['b', 'a'];
    expect(order).toEqual([
      `${x}:INITIALIZING`,
      `${x}:RUNNING`,
      `${x}:FINISHED`,
      `${y}:INITIALIZING`,
      `${y}:RUNNING`,
      `${y}:FINISHED`,
    ]);
  });

  it('on stop, lets jobs finish within the grace period, then hands the rest back', async () => {
    const h = await createHarness();
    await h.putPackage({ 'main.mjs': NEVER_ENDS });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    const terminal = h.next((p) => p.jobId === req.jobId && TERMINAL.has(p.status));
    await h.bus.publish('job.requests', req);
    await h.next((p) => p.jobId === req.jobId && p.status === 'RUNNING');
    await h.runner.stop(100);
    expect(await terminal).toMatchObject({ status: 'RELEASED', attempt: 1, runnerId: 'runner-1' });
    // The log is uploaded before the hand-back: the next attempt continues it.
    expect(h.logAtTerminal.get(req.jobId)).toContain(
      'the grace period is over; stopping the job here, it will run again on another runner',
    );
    expect(h.statuses(req.jobId)).toEqual(['INITIALIZING', 'RUNNING', 'RELEASED']);
    expect(h.runner.activeJobs).toBe(0);
  });

  it('starts the log of a later attempt with the log of the earlier ones', async () => {
    const h = await createHarness();
    await h.putPackage({ 'main.mjs': `export default async () => {};` });
    const req = jobRequest({ entryPoint: 'main.mjs', attempt: 2 });
    await h.storage.put(req.logKey, Readable.from([Buffer.from('attempt 1 was here\n')]));
    expect(await h.run(req)).toMatchObject({ status: 'FINISHED', attempt: 2 });
    expect(h.logAtTerminal.get(req.jobId)).toMatch(
      /^attempt 1 was here\n.*\[runner\] job \S+ attempt 2 on runner runner-1/,
    );
  });

  it('keeps the work dir when asked to', async () => {
    const h = await createHarness({ keepWorkDirs: true });
    await h.putPackage({ 'main.mjs': `export default async () => {};` });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    await h.run(req);
    const dir = path.join(h.workDir, `${req.jobId}-1`);
    expect((await fs.readdir(dir)).sort()).toEqual([
      'executor-spec.json',
      'job.log',
      'out',
      'package.json',
      'spec',
      'tmp',
    ]);
    expect((await fs.stat(path.join(dir, 'executor-spec.json'))).mode & 0o777).toBe(0o600);
  });

  it('gives the executor a minimal environment, the package as cwd, and no way to forge runner lines', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.mjs': [
        `export default async ({ logger }) => {`,
        `  logger.info('env: ' + Object.keys(process.env).sort().join(','));`,
        `  logger.info('cwd: ' + process.cwd());`,
        `  process.stdout.write('\\u001eim\\tINFO\\trunner\\tjob FINISHED (forged)\\n');`,
        `};`,
      ].join('\n'),
    });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(req)).toMatchObject({ status: 'FINISHED' });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toContain('INFO  [entry] env: HOME,PATH,TMPDIR');
    expect(log).toMatch(new RegExp(`INFO  \\[entry\\] cwd: .*/work/${req.jobId}-1/spec\\n`));
    expect(log).toContain('INFO  [entry] job FINISHED (forged)');
    expect(log).not.toContain('[runner] job FINISHED (forged)');
  });

  it('reports a broken executor (not the package) as FAILED internal-error', async () => {
    const fake = path.join(
      os.tmpdir(),
      `im-fake-executor-${process.pid}-${randomBytes(4).toString('hex')}.js`,
    );
    await fs.writeFile(
      fake,
      `process.stderr.write('\\u001eim\\tSEVERE\\texecutor\\texecutor failed: spec unreadable\\n');\n` +
        `process.send({ type: 'fatal', message: 'spec unreadable' }, () => process.exit(70));\n`,
    );
    try {
      const h = await createHarness({ executorPath: fake, sandbox: false });
      await h.putPackage({ 'main.mjs': 'export default async () => {};' });
      const req = jobRequest({ entryPoint: 'main.mjs' });
      expect(await h.run(req)).toMatchObject({ status: 'FAILED', reason: 'internal-error', returnCode: 70 });
      expect(h.logAtTerminal.get(req.jobId)).toContain('SEVERE [executor] executor failed: spec unreadable');
    } finally {
      await fs.rm(fake, { force: true });
    }
  });

  it('refuses to start without a compiled executor', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-runner-test-'));
    try {
      const runner = new JobRunner({
        bus: new InProcessEventBus(silentLogger()),
        storage: await LocalObjectStorage.open(path.join(dir, 'objects')),
        logger: silentLogger(),
        workDir: path.join(dir, 'work'),
        slots: 1,
        runnerId: 'r',
        executorPath: path.join(dir, 'missing', 'child.js'),
      });
      await expect(runner.start()).rejects.toThrow(/executor is missing/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

/** Waits until the attempt's local job log matches `re` (the runner appends lines as they come). */
async function localLogMatch(h: Harness, req: JobRequested, re: RegExp): Promise<RegExpMatchArray> {
  const file = path.join(h.workDir, `${req.jobId}-${req.attempt}`, 'job.log');
  for (let i = 0; i < 200; i++) {
    const m = (await fs.readFile(file, 'utf8').catch(() => '')).match(re);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the job log never matched ${re}`);
}

/** Whether a process runs (a zombie waiting for its reaper does not count). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; Z is a zombie.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

/** The processes of `pids` still running at `deadline` (epoch ms); polls until then. */
async function survivors(pids: number[], deadline: number): Promise<number[]> {
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('JobRunner warm executors', () => {
  const REPORT_PID = `export default async ({ logger }) => { logger.info('pid ' + process.pid + ' argv ' + process.execArgv.join(' ')); };`;

  it('runs each job in a process started before it, never reusing one, inside that job dir sandbox', async () => {
    const h = await createHarness({ warmExecutors: 1 });
    await h.putPackage({ 'main.mjs': REPORT_PID });
    const pids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [waiting] = await waitFor(
        () => (h.runner.warmExecutorPids.length ? h.runner.warmExecutorPids : undefined),
        {
          what: 'a warm executor',
        },
      );
      const req = jobRequest({ entryPoint: 'main.mjs' });
      expect(await h.run(req)).toMatchObject({ status: 'FINISHED' });
      const log = h.logAtTerminal.get(req.jobId) ?? '';
      const pid = Number(/pid (\d+)/.exec(log)?.[1]);
      expect(pid).toBe(waiting);
      const argv = /argv (.*)/.exec(log)?.[1] ?? '';
      expect(argv).toMatch(/--(experimental-)?permission /);
      expect(argv).toMatch(new RegExp(`--allow-fs-read=${path.join(h.workDir, 'warm-')}[0-9a-f-]{36} `));
      pids.push(pid);
    }
    expect(new Set(pids).size).toBe(3);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });

  it("keeps a job in a warm executor out of the next executor's directory", async () => {
    const h = await createHarness({ warmExecutors: 1 });
    await h.putPackage({
      'main.mjs': `import { readdir } from 'node:fs/promises'; import { join } from 'node:path'; export default async ({ logger, inputDir }) => { logger.info('got ' + (await readdir(join(inputDir, '..', '..'))).join(',')); };`,
    });
    await waitFor(() => h.runner.warmExecutorPids.length > 0 || undefined, { what: 'a warm executor' });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(req)).toMatchObject({ status: 'ERROR' });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toMatch(/Access to this API has been restricted|ERR_ACCESS_DENIED/);
    expect(log).not.toContain('got ');
  });

  it('terminates the warm executor of a job whose package is unusable, and removes warm dirs on stop', async () => {
    const h = await createHarness({ warmExecutors: 1 });
    const [waiting] = await waitFor(
      () => (h.runner.warmExecutorPids.length ? h.runner.warmExecutorPids : undefined),
      { what: 'a warm executor' },
    );
    const req = jobRequest({ entryPoint: 'missing.mjs', packageName: 'absent.djar' });
    expect(await h.run(req)).toMatchObject({ status: 'FAILED', reason: 'package-unusable' });
    expect(() => process.kill(waiting as number, 0)).toThrow();
    await h.runner.stop(0);
    expect((await fs.readdir(h.workDir)).filter((e) => e.startsWith('warm-'))).toEqual([]);
  });
});

describe('JobRunner sandbox', () => {
  const SANDBOX_HINT = 'SEVERE [runner] the sandbox refused an operation of the package';

  it('starts the executor with the permission model, the job dir writable, and the heap capped', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.mjs': [
        `import { writeFile, readFile } from 'node:fs/promises';`,
        `import { tmpdir } from 'node:os';`,
        `import { join } from 'node:path';`,
        `export default async ({ logger, outputDir, inputDir }) => {`,
        `  logger.info('argv: ' + process.execArgv.join(' '));`,
        `  await writeFile(join(tmpdir(), 'scratch.txt'), 'tmp ok');`,
        `  await writeFile(join(inputDir, 'scratch.txt'), 'spec ok');`,
        `  await writeFile(join(outputDir, 'result.txt'), await readFile(join(tmpdir(), 'scratch.txt'), 'utf8'));`,
        `};`,
      ].join('\n'),
    });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(req)).toMatchObject({ status: 'FINISHED' });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    const argv = /argv: (.*)/.exec(log)?.[1] ?? '';
    expect(argv).toMatch(/--(experimental-)?permission /);
    expect(argv).toContain(`--allow-fs-read=${path.join(h.workDir, `${req.jobId}-1`)} `);
    expect(argv).toContain(`--allow-fs-read=${path.resolve(__dirname, '..', 'dist')}`);
    expect(argv).toContain(`--allow-fs-write=${path.join(h.workDir, `${req.jobId}-1`, 'out')}`);
    expect(argv).not.toContain(`--allow-fs-write=${path.join(h.workDir, `${req.jobId}-1`)} `);
    expect(argv).toContain('--no-addons');
    expect(argv).toContain('--max-old-space-size=512');
    expect(argv).not.toMatch(/--allow-(child-process|worker|addons|wasi)/);
    expect(log).not.toMatch(/ExperimentalWarning: /);
    expect(await readText(h.storage, `${req.outPrefix}result.txt`)).toBe('tmp ok');
  });

  it.each([
    [
      'reads /etc/passwd',
      `import { readFile } from 'node:fs/promises'; export default async ({ logger }) => { logger.info('got ' + (await readFile('/etc/passwd', 'utf8')).length); };`,
    ],
    [
      "reads another job's directory",
      `import { readdir } from 'node:fs/promises'; import { join } from 'node:path'; export default async ({ logger, inputDir }) => { logger.info('got ' + (await readdir(join(inputDir, '..', '..'))).join(',')); };`,
    ],
    [
      'writes outside the job directory',
      `import { writeFile } from 'node:fs/promises'; export default async ({ logger, macros }) => { await writeFile(macros.TARGET, 'pwned'); logger.info('got it'); };`,
    ],
    [
      'rewrites its own job log (outside spec/, out/, tmp/)',
      `import { appendFile } from 'node:fs/promises'; import { join } from 'node:path'; export default async ({ logger, inputDir }) => { await appendFile(join(inputDir, '..', 'job.log'), 'forged line'); logger.info('got it'); };`,
    ],
    [
      'spawns a child process',
      `import { execFileSync } from 'node:child_process'; export default async ({ logger }) => { logger.info('got ' + execFileSync('/bin/sh', ['-c', 'echo pwned'])); };`,
    ],
    [
      'starts a worker thread',
      `import { Worker } from 'node:worker_threads'; export default async ({ logger }) => { new Worker('1', { eval: true }); logger.info('got it'); };`,
    ],
    [
      'creates a symbolic link to /etc',
      `import { symlink } from 'node:fs/promises'; import { join } from 'node:path'; export default async ({ logger, outputDir }) => { await symlink('/etc', join(outputDir, 'etc')); logger.info('got it'); };`,
    ],
  ])('ends a package that %s as ERROR with a clear log line', async (_what, script) => {
    const h = await createHarness();
    const target = path.join(h.dir, 'outside.txt');
    await h.putPackage({ 'main.mjs': script });
    const req = jobRequest({
      entryPoint: 'main.mjs',
      macros: [{ key: 'TARGET', value: target, secure: false }],
    });
    expect(await h.run(req)).toMatchObject({ status: 'ERROR', reason: null, returnCode: 1 });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toMatch(
      /SEVERE \[entry\] .*(Access to this API has been restricted|requires full fs\.read and fs\.write)/,
    );
    expect(log).toContain(SANDBOX_HINT);
    expect(log).not.toContain('got ');
    expect(log).not.toContain('forged line');
    expect(existsSync(target)).toBe(false);
    expect(await fs.readdir(h.workDir)).toEqual(['cache']);
  });

  it('lets a package do all that with JOBS_SANDBOX=false (trusted packages only)', async () => {
    const h = await createHarness({ sandbox: false });
    const target = path.join(h.dir, 'outside.txt');
    await h.putPackage({
      'main.mjs': [
        `import { readFile, writeFile, symlink } from 'node:fs/promises';`,
        `import { execFileSync } from 'node:child_process';`,
        `import { join } from 'node:path';`,
        `export default async ({ logger, macros, outputDir }) => {`,
        `  logger.info('argv: ' + process.execArgv.join(' '));`,
        `  logger.info('passwd ' + ((await readFile('/etc/passwd', 'utf8')).length > 0));`,
        `  await writeFile(macros.TARGET, 'written');`,
        `  logger.info('sh says ' + execFileSync('/bin/sh', ['-c', 'echo hi']).toString().trim());`,
        `  await symlink('/etc/passwd', join(outputDir, 'passwd-link'));`,
        `};`,
      ].join('\n'),
    });
    const req = jobRequest({
      entryPoint: 'main.mjs',
      macros: [{ key: 'TARGET', value: target, secure: false }],
    });
    expect(await h.run(req)).toMatchObject({ status: 'FINISHED' });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toContain('INFO  [entry] argv: --max-old-space-size=512\n');
    expect(log).toContain('passwd true');
    expect(log).toContain('sh says hi');
    // Output upload never follows links, sandbox or not.
    expect(log).toContain('WARNING [runner] output passwd-link not uploaded: symbolic link');
    expect(await fs.readFile(target, 'utf8')).toBe('written');
  });

  it('ends a job that outgrows its heap cap as ERROR and says so', async () => {
    const h = await createHarness({ memoryMb: 32 });
    await h.putPackage({
      'main.mjs': `export default async () => { const hog = []; for (;;) hog.push(new Array(100000).fill(Math.random())); };`,
    });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    const terminal = await h.run(req);
    expect(terminal.status).toBe('ERROR');
    expect(h.logAtTerminal.get(req.jobId)).toContain(
      'SEVERE [runner] the job ran out of memory: its heap is capped at 32 MiB (JOBS_MEMORY_MB)',
    );
  });

  it('refuses to start when the work dir lies inside the executor code jobs may read', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-runner-test-'));
    const inside = path.resolve(__dirname, '..', 'dist', 'work-inside-code');
    const runner = new JobRunner({
      bus: new InProcessEventBus(silentLogger()),
      storage: await LocalObjectStorage.open(dir),
      logger: silentLogger(),
      workDir: inside,
      slots: 1,
      runnerId: 'r',
      executorPath: EXECUTOR,
    });
    try {
      await expect(runner.start()).rejects.toThrow(/sandbox cannot be set up: the work dir .* overlaps/);
    } finally {
      await fs.rm(inside, { recursive: true, force: true });
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('JobRunner stopping', () => {
  const STUBBORN = [
    `export default async ({ logger }) => {`,
    `  process.on('SIGTERM', () => logger.info('SIGTERM ignored'));`,
    `  logger.info('pid ' + process.pid);`,
    `  setInterval(() => {}, 1000);`,
    `  await new Promise(() => {});`,
    `};`,
  ].join('\n');

  // The kill grace is cut from 3 s to 1 s here, so a loaded machine has 4 s to do the rest.
  it('kills a package that ignores SIGTERM within 5 s of a cancel', async () => {
    const h = await createHarness({ killGraceMs: 1000 });
    await h.putPackage({ 'main.mjs': STUBBORN });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    const terminal = h.next((p) => p.jobId === req.jobId && TERMINAL.has(p.status));
    await h.bus.publish('job.requests', req);
    const pid = Number((await localLogMatch(h, req, /pid (\d+)/))[1]);
    expect(alive(pid)).toBe(true);
    const t0 = Date.now();
    await h.bus.publish('job.cancel', cancel(req));
    expect(await terminal).toMatchObject({ status: 'FAILED', reason: 'stopped-by-user' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await survivors([pid], t0 + 5000)).toEqual([]);
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toContain('SIGTERM ignored');
    expect(log).toContain('finished with signal SIGKILL');
  });

  it("kills the job's whole process tree within 5 s of a timeout (sandbox off: it may start processes)", async () => {
    const h = await createHarness({ sandbox: false, timeoutUnitMs: 600, killGraceMs: 1000 });
    await h.putPackage({
      'main.mjs': [
        `import { spawn } from 'node:child_process';`,
        `export default async ({ logger }) => {`,
        `  const c = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: 'ignore' });`,
        `  process.on('SIGTERM', () => {});`,
        `  logger.info('pids ' + process.pid + ' ' + c.pid);`,
        `  await new Promise(() => {});`,
        `};`,
      ].join('\n'),
    });
    const req = jobRequest({ entryPoint: 'main.mjs', timeoutMinutes: 1 });
    const terminal = h.next((p) => p.jobId === req.jobId && TERMINAL.has(p.status));
    await h.bus.publish('job.requests', req);
    const m = await localLogMatch(h, req, /pids (\d+) (\d+)/);
    const pids = [Number(m[1]), Number(m[2])];
    expect(pids.every(alive)).toBe(true);
    const timedOut = await localLogMatch(h, req, /timeout of 1 minute\(s\) reached/);
    expect(timedOut).toBeTruthy();
    const t0 = Date.now();
    expect(await terminal).toMatchObject({ status: 'FAILED', reason: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await survivors(pids, t0 + 5000)).toEqual([]);
  });
});

describe('JobRunner package cache', () => {
  /** A storage that counts downloads of the package. */
  const counting = (counter: { gets: number }) => (storage: LocalObjectStorage) => {
    const counted = Object.create(storage) as ObjectStorage;
    counted.get = (key, range) => {
      if (key === `${PREFIX}/pkg.djar`) counter.gets++;
      return storage.get(key, range);
    };
    return counted;
  };
  const script = (text: string) => ({
    'main.mjs': `export default async ({ logger }) => logger.info(${JSON.stringify(text)});`,
  });

  it('downloads an unchanged package once, and a changed one again', async () => {
    const counter = { gets: 0 };
    const h = await createHarness({}, counting(counter));
    await h.putPackage(script('version 1'));

    const a = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(a)).toMatchObject({ status: 'FINISHED' });
    const b = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(b)).toMatchObject({ status: 'FINISHED' });
    expect(counter.gets).toBe(1);
    expect(h.logAtTerminal.get(a.jobId)).toMatch(/INFO {2}\[runner\] package cache miss: pkg\.djar fetched/);
    expect(h.logAtTerminal.get(b.jobId)).toMatch(
      /INFO {2}\[runner\] package cache hit: pkg\.djar, \d+ bytes/,
    );
    expect(h.logAtTerminal.get(b.jobId)).toContain('[entry] version 1');

    await h.putPackage(script('version 2, a longer one'));
    const c = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(c)).toMatchObject({ status: 'FINISHED' });
    expect(counter.gets).toBe(2);
    expect(h.logAtTerminal.get(c.jobId)).toContain('package cache miss');
    expect(h.logAtTerminal.get(c.jobId)).toContain('[entry] version 2, a longer one');

    // Two jobs at once on the new version: still no download.
    const [d, e] = [jobRequest({ entryPoint: 'main.mjs' }), jobRequest({ entryPoint: 'main.mjs' })];
    await Promise.all([h.run(d), h.run(e)]);
    expect(counter.gets).toBe(2);
    expect((await fs.readdir(path.join(h.workDir, 'cache'))).length).toBe(2);
  });

  it('downloads once for two jobs that start at once with a package not cached yet', async () => {
    const counter = { gets: 0 };
    const h = await createHarness({}, counting(counter));
    await h.putPackage(script('shared'));
    // Different partitions, so the two jobs run side by side (one shares the other's download or hits).
    const a = jobRequest({ entryPoint: 'main.mjs' });
    let b = jobRequest({ entryPoint: 'main.mjs' });
    while (partitionFor(b.jobId, 4) === partitionFor(a.jobId, 4)) b = jobRequest({ entryPoint: 'main.mjs' });
    const [ta, tb] = await Promise.all([h.run(a), h.run(b)]);
    expect([ta.status, tb.status]).toEqual(['FINISHED', 'FINISHED']);
    expect(counter.gets).toBe(1);
  });

  it('downloads every time when the cache is off', async () => {
    const counter = { gets: 0 };
    const h = await createHarness({ packageCacheBytes: 0 }, counting(counter));
    await h.putPackage(script('no cache'));
    for (let i = 0; i < 2; i++) {
      const req = jobRequest({ entryPoint: 'main.mjs' });
      expect(await h.run(req)).toMatchObject({ status: 'FINISHED' });
      expect(h.logAtTerminal.get(req.jobId)).toMatch(/package fetched: pkg\.djar, \d+ bytes/);
    }
    expect(counter.gets).toBe(2);
    expect(await fs.readdir(h.workDir)).toEqual([]);
  });
});

describe('JobRunner package manifest', () => {
  const SHOW = `export default async ({ logger, macros }) => { for (const k of ['A', 'B', 'C', 'SECRET', 'JOB_ID']) logger.info(k + '=' + macros[k]); };`;

  it('uses manifest defaults below the configuration and run request, masks its secure macros, keeps built-ins', async () => {
    const h = await createHarness();
    await h.putPackage({
      'main.mjs': SHOW,
      'manifest.json': JSON.stringify({
        name: 'demo',
        version: '1.2.3',
        defaultEntryPoint: 'main.mjs',
        macros: [
          { key: 'A', default: 'from-manifest', description: 'overridden' },
          { key: 'B', default: 'b-default' },
          { key: 'C', description: 'no default' },
          { key: 'SECRET', default: 'hush-hush', secure: true },
          { key: 'JOB_ID', default: 'forged' },
        ],
        publisher: 'someone',
      }),
    });
    const req = jobRequest({
      entryPoint: 'main.mjs',
      macros: [{ key: 'A', value: 'from-request', secure: false }],
    });
    expect(await h.run(req)).toMatchObject({ status: 'FINISHED' });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toContain(
      'INFO  [runner] manifest.json: demo 1.2.3, 5 macro(s) declared, default entry point main.mjs',
    );
    expect(log).toContain('WARNING [runner] manifest.json: unknown field(s) ignored: publisher');
    expect(log).toContain('WARNING [runner] macro JOB_ID of the package manifest ignored: it is built in');
    expect(log).toContain('INFO  [runner] package defaults used for macro(s): B, SECRET');
    expect(log).toContain(
      'macro(s) the package expects have no value (no default in manifest.json, none in the configuration or run request): C',
    );
    expect(log).toContain('INFO  [entry] A=from-request');
    expect(log).toContain('INFO  [entry] B=b-default');
    expect(log).toContain('INFO  [entry] C=undefined');
    expect(log).toContain('INFO  [entry] SECRET=****');
    expect(log).toContain(`INFO  [entry] JOB_ID=${req.jobId}`);
    expect(log).not.toContain('hush-hush');
    expect(log).not.toContain('forged');
  });

  it.each([
    [
      'invalid fields',
      JSON.stringify({ name: 5, macros: [{ key: 'OK' }, { key: '9bad', secure: 'yes' }] }),
      /manifest\.json is not valid: name: .*; macros\[1\]\.key: must start with a letter or _.*; macros\[1\]\.secure: /,
    ],
    ['a JSON syntax error', '{ "name": "x", }', /manifest\.json is not valid JSON: /],
    ['an array', '[]', /manifest\.json is not valid: it must be a JSON object/],
    [
      'a default entry point outside the package',
      JSON.stringify({ defaultEntryPoint: '../x.mjs' }),
      /manifest\.json is not valid: defaultEntryPoint: must be a relative path inside the package/,
    ],
  ])(
    'fails a package whose manifest has %s: FAILED package-unusable naming the field',
    async (_what, manifest, re) => {
      const h = await createHarness();
      await h.putPackage({ 'main.mjs': SHOW, 'manifest.json': manifest });
      const req = jobRequest({ entryPoint: 'main.mjs' });
      expect(await h.run(req)).toMatchObject({ status: 'FAILED', reason: 'package-unusable' });
      expect(h.statuses(req.jobId)).toEqual(['INITIALIZING', 'FAILED']);
      const log = h.logAtTerminal.get(req.jobId) ?? '';
      expect(log).toMatch(new RegExp(`SEVERE \\[runner\\] the package cannot be used: ${re.source}`));
      expect(log).toContain('SEVERE [runner] to fix: fix manifest.json at the root of the package');
    },
  );
});

/** The bus refuses the harness runner's first `times` RUNNING reports, as Kafka does while it is down. */
function refuseRunningReports(h: Harness, times: number): { count: number } {
  const refused = { count: 0 };
  const publish = h.bus.publish.bind(h.bus);
  h.bus.publish = async (topic: string, value: unknown) => {
    if (topic === 'job.progress' && (value as JobProgress).status === 'RUNNING' && refused.count < times) {
      refused.count++;
      throw new Error('KafkaJSConnectionError: broker down');
    }
    return publish(topic as never, value as never);
  };
  return refused;
}

describe('JobRunner leases', () => {
  const lease = (req: JobRequested, granted: boolean, reason: string | null = null) => ({
    jobId: req.jobId,
    attempt: req.attempt,
    runnerId: 'runner-1',
    granted,
    leaseMs: 30_000,
    reason,
    occurredAt: new Date().toISOString(),
  });

  it('does not run an attempt whose claim jobconfig refuses (another runner holds it)', async () => {
    const h = await createHarness({}, undefined, () => ({ granted: false, reason: 'runner-2 holds it' }));
    await h.putPackage({ 'main.mjs': `export default async ({ logger }) => logger.info('ran');` });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    await h.bus.publish('job.requests', req);
    await h.next((p) => p.jobId === req.jobId && p.status === 'INITIALIZING');
    await waitFor(() => (h.runner.activeJobs === 0 ? true : undefined), { what: 'the request to be let go' });
    await h.bus.idle();
    expect(h.statuses(req.jobId)).toEqual(['INITIALIZING']);
    // Not a line of its own in the log (the log belongs to the runner holding the attempt).
    expect(await readText(h.storage, req.logKey)).toBeNull();
  });

  it('waits for the grant before running, sending an unanswered claim again', async () => {
    let answer = false;
    const h = await createHarness({ claimRetryMs: 30 }, undefined, () => (answer ? { granted: true } : null));
    await h.putPackage({ 'main.mjs': `export default async ({ logger }) => logger.info('ran');` });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    const done = h.run(req);
    await h.next((p) => p.jobId === req.jobId && h.statuses(req.jobId).length >= 3);
    expect(h.statuses(req.jobId)).toEqual(['INITIALIZING', 'INITIALIZING', 'INITIALIZING']);
    expect(await readText(h.storage, req.logKey)).toBeNull();
    answer = true; // jobconfig is back: the next claim is answered
    expect(await done).toMatchObject({ status: 'FINISHED' });
    expect(h.statuses(req.jobId).filter((s) => s !== 'INITIALIZING')).toEqual(['RUNNING', 'FINISHED']);
  });

  it('heartbeats for the attempts it holds, at least three times per lease, and stops when none is left', async () => {
    const h = await createHarness({ heartbeatMs: 40 });
    const beats: { jobs: { jobId: string; attempt: number }[]; at: number }[] = [];
    await h.bus.subscribe({
      groupId: 'test.heartbeats',
      topic: 'job.heartbeats',
      handler: async (hb) => void beats.push({ jobs: hb.jobs, at: Date.now() }),
    });
    await h.putPackage({ 'main.mjs': NEVER_ENDS });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    await h.bus.publish('job.requests', req);
    await h.next((p) => p.jobId === req.jobId && p.status === 'RUNNING');
    await waitFor(() => (beats.length >= 3 ? true : undefined), { what: 'three heartbeats' });
    expect(beats[0]?.jobs).toEqual([{ jobId: req.jobId, attempt: 1 }]);
    await h.bus.publish('job.cancel', cancel(req));
    await h.next((p) => p.jobId === req.jobId && p.status === 'FAILED');
    await waitFor(() => (h.runner.activeJobs === 0 ? true : undefined), { what: 'the job to be let go' });
    const after = beats.length;
    // A job of its own proves the timer still works, and that the ended job is no longer named.
    await h.putPackage({ 'main.mjs': NEVER_ENDS });
    const next = jobRequest({ entryPoint: 'main.mjs' });
    await h.bus.publish('job.requests', next);
    await waitFor(() => (beats.length > after + 1 ? true : undefined), { what: 'heartbeats again' });
    expect(beats.slice(after + 1).every((b) => b.jobs.every((j) => j.jobId === next.jobId))).toBe(true);
  });

  it('stops an attempt whose lease jobconfig revokes, and reports nothing more about it', async () => {
    const h = await createHarness();
    await h.putPackage({ 'main.mjs': NEVER_ENDS });
    const req = jobRequest({ entryPoint: 'main.mjs' });
    await h.bus.publish('job.requests', req);
    await h.next((p) => p.jobId === req.jobId && p.status === 'RUNNING');
    await h.bus.publish('job.leases', lease(req, false, 're-queued as attempt 2'));
    await waitFor(() => (h.runner.activeJobs === 0 ? true : undefined), { what: 'the job to stop' });
    await h.bus.idle();
    expect(h.statuses(req.jobId)).toEqual(['INITIALIZING', 'RUNNING']);
    // The log in storage is the next attempt's now: this runner wrote no ending to it.
    expect((await readText(h.storage, req.logKey)) ?? '').not.toMatch(/job FAILED|stopping the job/);
    expect(await fs.readdir(h.workDir)).not.toContain(`${req.jobId}-1`);
  });

  it('lets a request go once its claim is answered, so the next request of the partition starts meanwhile', async () => {
    const h = await createHarness({ slots: 2 });
    await h.putPackage({ 'main.mjs': NEVER_ENDS });
    const first = jobRequest({ entryPoint: 'main.mjs' });
    let second = jobRequest({ entryPoint: 'main.mjs' });
    while (partitionFor(second.jobId, 4) !== partitionFor(first.jobId, 4))
      second = jobRequest({ entryPoint: 'main.mjs' });
    await h.bus.publish('job.requests', first);
    await h.bus.publish('job.requests', second);
    // Both run at once although one partition delivers them one after the other.
    await h.next((p) => p.jobId === first.jobId && p.status === 'RUNNING');
    await h.next((p) => p.jobId === second.jobId && p.status === 'RUNNING');
    expect(h.runner.activeJobs).toBe(2);
    await h.bus.publish('job.cancel', cancel(first));
    await h.bus.publish('job.cancel', cancel(second));
    await h.next((p) => p.jobId === second.jobId && p.status === 'FAILED');
  });

  it('retries its RUNNING report while the bus fails, then runs the job (an outage delays it, never fails it)', async () => {
    const h = await createHarness();
    await h.putPackage({ 'main.mjs': `export default async ({ logger }) => logger.info('ran');` });
    const refused = refuseRunningReports(h, 3);
    const req = jobRequest({ entryPoint: 'main.mjs' });
    expect(await h.run(req)).toMatchObject({ status: 'FINISHED' });
    expect(refused.count).toBe(3);
    expect(h.statuses(req.jobId)).toEqual(['INITIALIZING', 'RUNNING', 'FINISHED']);
    expect(await readText(h.storage, req.logKey)).toMatch(/ran/);
  });

  it('stops retrying its RUNNING report when the job is cancelled meanwhile: FAILED stopped-by-user, never run', async () => {
    const h = await createHarness();
    await h.putPackage({ 'main.mjs': `export default async ({ logger }) => logger.info('ran');` });
    const refused = refuseRunningReports(h, Infinity);
    const req = jobRequest({ entryPoint: 'main.mjs' });
    const done = h.run(req);
    await waitFor(() => (refused.count >= 2 ? true : undefined), { what: 'two refused RUNNING reports' });
    await h.bus.publish('job.cancel', cancel(req));
    expect(await done).toMatchObject({ status: 'FAILED', reason: 'stopped-by-user' });
    expect(h.statuses(req.jobId)).toEqual(['INITIALIZING', 'FAILED']);
    expect(await readText(h.storage, req.logKey)).not.toMatch(/ran/);
  });

  it('hands back at once the requests still waiting for a slot when it stops', async () => {
    const h = await createHarness({ slots: 1 });
    await h.putPackage({ 'main.mjs': NEVER_ENDS });
    const running = jobRequest({ entryPoint: 'main.mjs' });
    let waiting = jobRequest({ entryPoint: 'main.mjs' });
    while (partitionFor(waiting.jobId, 4) === partitionFor(running.jobId, 4))
      waiting = jobRequest({ entryPoint: 'main.mjs' });
    await h.bus.publish('job.requests', running);
    await h.next((p) => p.jobId === running.jobId && p.status === 'RUNNING');
    await h.bus.publish('job.requests', waiting);
    await waitFor(() => (h.runner.activeJobs === 2 ? true : undefined), {
      what: 'the second request in hand',
    });
    const stopped = h.runner.stop(60_000);
    // Handed back during the grace period, without a claim: jobconfig requests it again elsewhere.
    expect(await h.next((p) => p.jobId === waiting.jobId)).toMatchObject({ status: 'RELEASED', attempt: 1 });
    expect(h.statuses(waiting.jobId)).toEqual(['RELEASED']);
    await h.bus.publish('job.cancel', cancel(running));
    await stopped;
    await h.next((p) => p.jobId === running.jobId && p.status === 'FAILED');
    expect(h.statuses(running.jobId)).toEqual(['INITIALIZING', 'RUNNING', 'FAILED']);
  });
});

describe('JobRunner encrypted secure macros', () => {
  const ring = parseKeyring(`k1:${randomBytes(32).toString('base64')}`);
  const PKG = {
    'main.mjs': `export default async ({ logger, macros }) => {
      logger.info('password is ' + macros.PASSWORD + ', customer ' + macros.CUSTOMER);
      if (macros.PASSWORD !== 's3cr3t-P@ss') throw new Error('not decrypted: ' + macros.PASSWORD.length);
    }`,
  };

  it('decrypts a secure value before the package gets it and masks it in the log', async () => {
    const h = await createHarness({ secrets: ring });
    await h.putPackage(PKG);
    const sealed = encryptSecret('s3cr3t-P@ss', ring);
    const req = jobRequest({
      entryPoint: 'main.mjs',
      macros: [
        { key: 'CUSTOMER', value: 'ACME', secure: false },
        { key: 'PASSWORD', value: sealed, secure: true },
      ],
    });
    const terminal = await h.run(req);
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(terminal).toMatchObject({ status: 'FINISHED', reason: null });
    expect(log).toContain('INFO  [entry] password is ****, customer ACME');
    expect(log).not.toContain('s3cr3t-P@ss');
    expect(log).not.toContain(sealed);
  });

  it('fails the job FAILED (internal-error) with a clear SEVERE line when it cannot decrypt', async () => {
    const other = parseKeyring(`k2:${randomBytes(32).toString('base64')}`);
    const h = await createHarness({ secrets: other });
    await h.putPackage(PKG);
    const req = jobRequest({
      entryPoint: 'main.mjs',
      macros: [{ key: 'PASSWORD', value: encryptSecret('s3cr3t-P@ss', ring), secure: true }],
    });
    const terminal = await h.run(req);
    expect(terminal).toMatchObject({ status: 'FAILED', reason: 'internal-error' });
    const log = h.logAtTerminal.get(req.jobId) ?? '';
    expect(log).toMatch(
      /SEVERE \[runner\] the secure macro PASSWORD cannot be decrypted: .*key "k1".*Configure SECRETS_ENCRYPTION_KEYS of the job runner the same as jobconfig's; the job did not run/,
    );
    expect(log).not.toContain('[runner] starting entry point');
    expect(h.statuses(req.jobId)).not.toContain('RUNNING');

    // A runner without any keyring fails the same way; a legacy plain value still runs.
    const bare = await createHarness();
    await bare.putPackage(PKG);
    const noKey = await bare.run(
      jobRequest({
        entryPoint: 'main.mjs',
        macros: [{ key: 'PASSWORD', value: encryptSecret('s3cr3t-P@ss', ring), secure: true }],
      }),
    );
    expect(noKey).toMatchObject({ status: 'FAILED', reason: 'internal-error' });
    const legacy = jobRequest({
      entryPoint: 'main.mjs',
      macros: [{ key: 'PASSWORD', value: 's3cr3t-P@ss', secure: true }],
    });
    expect(await bare.run(legacy)).toMatchObject({ status: 'FINISHED' });
    expect(bare.logAtTerminal.get(legacy.jobId)).toContain('password is ****');
  });
});
