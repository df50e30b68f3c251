import {
  JOB_STATUS_EVENT_TYPE,
  topicCatalog,
  topicName,
  type JobProgress,
  type JobStatus,
  type JobStatusData,
  type JobStatusEvent,
} from '@im/contracts';
import { silentLogger } from '@im/logging';
import { infraEnv, uniqueName, waitFor } from '@im/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { Partitioners, type Admin, type Producer } from 'kafkajs';
import { KafkaEventBus } from './kafka-bus';

/** scripts/events/watch-status.mjs and redrive.mjs as real processes against the real broker. */
const scriptsDir = path.resolve(__dirname, '..', '..', '..', 'scripts', 'events');

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Started {
  child: ChildProcess;
  stdout(): string;
  done: Promise<Finished>;
}

const children = new Set<ChildProcess>();

function start(script: string, args: string[], env: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, [path.join(scriptsDir, script), ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Finished>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, stdout: () => stdout, done };
}

/** Runs a script to its end; a script that does not end within timeoutMs is killed (and the test fails). */
async function run(script: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 45_000) {
  const s = start(script, args, env);
  const timer = setTimeout(() => s.child.kill('SIGKILL'), timeoutMs);
  try {
    return await s.done;
  } finally {
    clearTimeout(timer);
  }
}

/** Fails with the script's output when it exited with another code. */
function expectExit(r: Finished, code: number): void {
  if (r.code !== code)
    throw new Error(
      `expected exit code ${code}, got ${r.code} (signal ${r.signal})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
}

/** A line of watch-status --json. */
interface JsonLine {
  kind: string;
  jobId?: string;
  warning?: string;
  sequence?: number;
  [field: string]: unknown;
}

const lines = (s: string) => s.split('\n').filter((l) => l.length > 0);
const summaryOf = (r: Finished) => lines(r.stdout).filter((l) => l.startsWith('SUMMARY'));

function statusEvent(
  jobId: string,
  sequence: number,
  status: JobStatus,
  previousStatus: JobStatus | null,
  extra: Partial<JobStatusData> = {},
): JobStatusEvent {
  const time = new Date(Date.UTC(2026, 0, 1, 0, 0, sequence)).toISOString();
  return {
    specversion: '1.0',
    id: `${jobId}:${sequence}`,
    source: '/im/jobconfig',
    type: JOB_STATUS_EVENT_TYPE,
    subject: jobId,
    time,
    datacontenttype: 'application/json',
    data: {
      jobId,
      jobConfigId: '44',
      jobConfigName: 'sample config',
      status,
      previousStatus,
      sequence,
      attempt: 1,
      reason: null,
      returnCode: null,
      submittedByUserId: '1',
      occurredAt: time,
      ...extra,
    },
  };
}

const progress = (jobId: string): JobProgress => ({
  jobId,
  attempt: 1,
  status: 'RUNNING',
  reason: null,
  returnCode: null,
  currentStep: 'step',
  runnerId: 'r1',
  occurredAt: new Date().toISOString(),
});

describe('scripts/events against the real Kafka broker', () => {
  const prefix = `${uniqueName('ev')}.`;
  const statusTopic = topicName('job.status', prefix);
  const progressTopic = topicName('job.progress', prefix);
  const progressDlq = `${progressTopic}.dlq`;
  let bus: KafkaEventBus;
  let raw: Producer;
  let admin: Admin;
  /** The environment the scripts get: brokers from infraEnv(), the prefix of this run. */
  let env: NodeJS.ProcessEnv;

  /** Sum of the end offsets of a topic's partitions (its record count: nothing is deleted here). */
  const endOffsets = async (topic: string) =>
    (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);

  beforeAll(async () => {
    const { kafkaBrokers: brokers, kafkaSasl: sasl } = infraEnv();
    // The scripts run as the admin principal here (redrive is an operator's tool).
    env = {
      PATH: process.env.PATH ?? '',
      KAFKA_BROKERS: brokers.join(','),
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_SASL_MECHANISM: sasl.mechanism,
      KAFKA_SASL_USERNAME: sasl.username,
      KAFKA_SASL_PASSWORD: sasl.password,
    };
    bus = new KafkaEventBus(silentLogger(), {
      brokers,
      sasl,
      clientId: 'int-test-event-scripts',
      topicPrefix: prefix,
    });
    await bus.ensureTopics({ partitions: 3, replicationFactor: 1 });
    raw = bus.client.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await raw.connect();
    admin = bus.client.admin();
    await admin.connect();
  }, 60_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await raw?.disconnect();
    await admin?.disconnect();
    await bus?.close();
  });

  describe('watch-status.mjs', () => {
    it('prints a job’s transitions in order, a redelivered event once as DUPLICATE, invalid records as INVALID, and exits 0', async () => {
      const job = uniqueName('job-a');
      // Same key as the job's events, so these come first in the same partition.
      await raw.send({
        topic: statusTopic,
        messages: [
          { key: job, value: 'not json {' },
          { key: job, value: JSON.stringify({ type: 'something.else', id: 'x' }) },
        ],
      });
      await bus.publish('job.status', statusEvent(job, 1, 'QUEUED', null));
      await bus.publish('job.status', statusEvent(job, 2, 'INITIALIZING', 'QUEUED'));
      await bus.publish('job.status', statusEvent(job, 3, 'RUNNING', 'INITIALIZING'));
      await bus.publish('job.status', statusEvent(job, 2, 'INITIALIZING', 'QUEUED')); // redelivered
      await bus.publish(
        'job.status',
        statusEvent(job, 4, 'FAILED', 'RUNNING', { reason: 'timeout', returnCode: 137 }),
      );

      const r = await run(
        'watch-status.mjs',
        ['--from-beginning', '--count', '4', '--exit-after-idle', '30'],
        env,
      );

      expectExit(r, 0);
      const out = lines(r.stdout).map((l) => l.replace(/\(partition \d+, offset \d+\)/, '(at)'));
      expect(out).toEqual([
        'INVALID (at): not JSON',
        'INVALID (at): not a job status event (type "something.else")',
        `2026-01-01T00:00:01.000Z  ${job}  #1  (new) → QUEUED  attempt 1`,
        `2026-01-01T00:00:02.000Z  ${job}  #2  QUEUED → INITIALIZING  attempt 1`,
        `2026-01-01T00:00:03.000Z  ${job}  #3  INITIALIZING → RUNNING  attempt 1`,
        `DUPLICATE ${job}:2 (at): already seen, ignored`,
        `2026-01-01T00:00:04.000Z  ${job}  #4  RUNNING → FAILED  attempt 1  reason=timeout returnCode=137`,
        'SUMMARY events=4 duplicates=1 jobs=1 gaps=0 reorderings=0 invalid=2 stopped=count',
      ]);
    });

    it('reports a gap and a reordering with a WARNING (--json) and exits 3', async () => {
      const gap = uniqueName('job-gap');
      const back = uniqueName('job-back');
      await bus.publish('job.status', statusEvent(gap, 1, 'QUEUED', null));
      await bus.publish('job.status', statusEvent(gap, 2, 'INITIALIZING', 'QUEUED'));
      await bus.publish('job.status', statusEvent(gap, 2, 'INITIALIZING', 'QUEUED'));
      await bus.publish('job.status', statusEvent(gap, 4, 'FINISHED', 'RUNNING', { returnCode: 0 }));
      await bus.publish('job.status', statusEvent(back, 1, 'QUEUED', null));
      await bus.publish('job.status', statusEvent(back, 3, 'RUNNING', 'INITIALIZING'));
      await bus.publish('job.status', statusEvent(back, 2, 'INITIALIZING', 'QUEUED'));

      const r = await run('watch-status.mjs', ['--from-beginning', '--json', '--exit-after-idle', '3'], env);

      expectExit(r, 3);
      const objects = lines(r.stdout).map((l) => JSON.parse(l) as JsonLine);
      const of = (jobId: string) =>
        objects
          .filter((o) => o.jobId === jobId)
          .map((o) => `${o.kind}${o.warning ? `:${o.warning}` : ''} ${o.sequence}`);
      expect(of(gap)).toEqual([
        'transition 1',
        'transition 2',
        'duplicate 2',
        'warning:gap 4',
        'transition 4',
      ]);
      expect(objects.find((o) => o.jobId === gap && o.warning === 'gap')).toMatchObject({
        previous: 2,
        missingFrom: 3,
        missingTo: 3,
      });
      expect(of(back)).toEqual([
        'transition 1',
        'warning:gap 3',
        'transition 3',
        'warning:reordering 2',
        'transition 2',
      ]);
      expect(
        objects.find((o) => o.jobId === gap && o.sequence === 4 && o.kind === 'transition'),
      ).toMatchObject({
        previousStatus: 'RUNNING',
        status: 'FINISHED',
        returnCode: 0,
        reason: null,
      });
      const summary = objects[objects.length - 1];
      expect(summary).toMatchObject({
        kind: 'summary',
        gaps: 2,
        reorderings: 1,
        stopped: 'idle',
        exitCode: 3,
      });
      expect(objects.filter((o) => o.kind === 'summary')).toHaveLength(1);
    });

    it('without --from-beginning shows only new events, stops on SIGINT with a summary, and removes its own group', async () => {
      const old = uniqueName('job-old');
      await bus.publish('job.status', statusEvent(old, 1, 'QUEUED', null));
      const watcher = start('watch-status.mjs', [], env);
      const published: string[] = [];
      // The watcher starts at the end of the topic once it has joined: publish until it sees one.
      const seen = await waitFor(
        async () => {
          if (watcher.child.exitCode !== null) throw new Error(`watcher exited: ${watcher.stdout()}`);
          const job = uniqueName('job-live');
          published.push(job);
          await bus.publish('job.status', statusEvent(job, 1, 'QUEUED', null));
          return published.find((j) => watcher.stdout().includes(j));
        },
        { timeoutMs: 30_000, intervalMs: 300, what: 'the watcher to print a new event' },
      );
      watcher.child.kill('SIGINT');
      const r = await watcher.done;

      expectExit(r, 0);
      expect(r.stdout).toContain(`${seen}  #1  (new) → QUEUED`);
      expect(r.stdout).not.toContain(old);
      const [summary] = summaryOf(r);
      expect(summary).toMatch(
        /^SUMMARY events=(\d+) duplicates=0 jobs=\1 gaps=0 reorderings=0 invalid=0 stopped=SIGINT$/,
      );
      const { groups } = await admin.listGroups();
      expect(groups.map((g) => g.groupId).filter((g) => g.startsWith(`${prefix}watch-status.`))).toEqual([]);
    });

    it('documents its exit codes and rejects bad options with exit code 2', async () => {
      const help = await run('watch-status.mjs', ['--help'], env);
      expectExit(help, 0);
      expect(help.stdout).toMatch(/^\s+3\s+a gap or a reordering/m);
      const bad = await run('watch-status.mjs', ['--count', 'many'], env);
      expectExit(bad, 2);
      expect(bad.stderr).toContain('--count must be a whole number');
    });
  });

  describe('redrive.mjs', () => {
    const group = `${prefix}redrive.job.progress`;

    it('refuses a topic id outside the catalog and lists the catalog', async () => {
      const r = await run('redrive.mjs', ['--topic', 'job.nope'], env);
      expectExit(r, 2);
      expect(r.stderr).toContain('unknown topic id "job.nope"');
      for (const id of Object.keys(topicCatalog)) expect(r.stderr).toContain(id);
      expect(r.stderr).toContain(`catalog ids are: ${Object.keys(topicCatalog).join(', ')}`);
    });

    it('lists dead letters on --dry-run, moves each once across runs, and a healthy consumer receives them', async () => {
      // A consumer whose handler always fails dead-letters what it reads.
      const failing = new KafkaEventBus(silentLogger(), {
        brokers: infraEnv().kafkaBrokers,
        sasl: infraEnv().kafkaSasl,
        clientId: 'int-test-failing',
        topicPrefix: prefix,
        maxAttempts: 2,
        retryDelayMs: 10,
      });
      const jobs = [uniqueName('dead-1'), uniqueName('dead-2')];
      const sub = await failing.subscribe({
        groupId: uniqueName('failing'),
        topic: 'job.progress',
        fromBeginning: true,
        handler: async () => {
          throw new Error('handler always fails');
        },
      });
      try {
        for (const job of jobs)
          await bus.publish('job.progress', progress(job), { 'x-trace': `trace-${job}` });
        await waitFor(async () => ((await endOffsets(progressDlq)) === 2 ? true : undefined), {
          timeoutMs: 30_000,
          what: 'two dead-lettered records',
        });
      } finally {
        await sub.close();
        await failing.close();
      }
      // A record that was redriven once already and failed again.
      const again = uniqueName('dead-again');
      await raw.send({
        topic: progressDlq,
        messages: [
          {
            key: again,
            value: JSON.stringify(progress(again)),
            headers: {
              'x-redrive-count': '1',
              'x-redriven-at': '2020-01-01T00:00:00.000Z',
              'x-dlq-cause': 'handler',
              'x-dlq-error': 'Error: failed again',
            },
          },
        ],
      });
      const targetBefore = await endOffsets(progressTopic);
      expect(targetBefore).toBe(2);
      const args = ['--topic', 'job.progress', '--prefix', prefix];
      const envWithoutPrefix = { ...env, KAFKA_TOPIC_PREFIX: '' };

      // Dry run: listed, nothing moved, nothing committed.
      const dry = await run('redrive.mjs', [...args, '--dry-run'], envWithoutPrefix);
      expectExit(dry, 0);
      for (const job of [...jobs, again]) expect(dry.stdout).toMatch(new RegExp(`key=${job} cause=handler `));
      expect(dry.stdout).toContain('error: Error: handler always fails');
      expect(dry.stdout).toContain('error: Error: failed again');
      expect(dry.stdout).toContain(`value: {"jobId":"${jobs[0]}"`);
      expect(summaryOf(dry)).toEqual([
        expect.stringMatching(
          /^SUMMARY dry-run listed=3 waiting=3 .* stopped=done \(nothing moved or committed\)$/,
        ),
      ]);
      expect(await endOffsets(progressTopic)).toBe(targetBefore);
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [progressDlq] });
      expect(offsets!.partitions.filter((p) => Number(p.offset) >= 0)).toEqual([]);

      const received: { jobId: string; headers: Record<string, string> }[] = [];
      const healthy = await bus.subscribe({
        groupId: uniqueName('healthy'),
        topic: 'job.progress',
        fromBeginning: true,
        handler: async (m, meta) => void received.push({ jobId: m.jobId, headers: meta.headers }),
      });
      try {
        const first = await run('redrive.mjs', [...args, '--max', '1'], envWithoutPrefix);
        expectExit(first, 0);
        expect(lines(first.stdout).filter((l) => l.startsWith('redriven '))).toHaveLength(1);
        expect(summaryOf(first)).toEqual([
          expect.stringMatching(/^SUMMARY redriven=1 left=2 .*stopped=max$/),
        ]);

        const rest = await run('redrive.mjs', args, envWithoutPrefix);
        expectExit(rest, 0);
        expect(lines(rest.stdout).filter((l) => l.startsWith('redriven '))).toHaveLength(2);
        expect(summaryOf(rest)).toEqual([
          expect.stringMatching(
            new RegExp(
              `^SUMMARY redriven=2 left=0 source=${progressDlq} target=${progressTopic} .*stopped=done$`,
            ),
          ),
        ]);

        const redriven = await waitFor(
          () => {
            const r = received.filter((x) => x.headers['x-redrive-count'] !== undefined);
            return r.length >= 3 ? r : undefined;
          },
          { timeoutMs: 30_000, what: 'the healthy consumer to receive the redriven records' },
        );
        expect(redriven.map((x) => x.jobId).sort()).toEqual([...jobs, again].sort());
        for (const x of redriven) {
          expect(x.headers['x-redrive-count']).toBe(x.jobId === again ? '2' : '1');
          expect(Object.keys(x.headers).filter((h) => h.startsWith('x-dlq-'))).toEqual([]);
          expect(Date.now() - Date.parse(x.headers['x-redriven-at']!)).toBeLessThan(5 * 60_000);
          if (x.jobId !== again) expect(x.headers['x-trace']).toBe(`trace-${x.jobId}`);
        }

        // Everything was redriven once: a further run moves nothing.
        const none = await run('redrive.mjs', args, envWithoutPrefix);
        expectExit(none, 0);
        expect(none.stdout).toContain(`nothing to redrive in ${progressDlq}`);
        expect(summaryOf(none)).toEqual([
          expect.stringMatching(/^SUMMARY redriven=0 left=0 .*stopped=empty$/),
        ]);
        expect(await endOffsets(progressTopic)).toBe(targetBefore + 3);
        expect(received.filter((x) => x.headers['x-redrive-count'] !== undefined)).toHaveLength(3);
      } finally {
        await healthy.close();
      }
    });
  });
});
