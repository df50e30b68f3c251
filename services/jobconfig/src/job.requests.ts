import { reencryptSecret, SecretDecryptionError, type SecretsKeyring } from '@im/config';
import {
  formatJobLogLine,
  jobLogKey,
  jobOutPrefix,
  packagePrefix,
  type FailureReason,
  type JobStatus,
} from '@im/contracts';
import type { Logger } from '@im/logging';
import type { OutgoingRecord } from '@im/messaging';
import type { ObjectStorage } from '@im/storage';
import { Readable } from 'node:stream';
import type { JobConfigRecord } from './job-config.repository';
import type { JobConfigService } from './job-config.service';
import type { JobRecord, RunMacro, TransitionPatch } from './job.repository';
import { withheldKeys, type PackageState } from './secret-binding';

/**
 * Whether a configuration's secure values may go to a run now (ADR 0016): the package state it runs
 * and the keys of the secure macros withheld from it (none when it has no secure value).
 */
export interface RequestVerdict {
  state: PackageState | null;
  withheld: string[];
}

export const DELIVER_ALL: RequestVerdict = { state: null, withheld: [] };

/**
 * The path of an attempt whose secure values are withheld: it ends before any runner gets it
 * (QUEUED → INITIALIZING → FAILED `secrets-withheld`, the contract's own transitions, no request).
 */
export function withheldPath(now: number): [JobStatus, TransitionPatch][] {
  return [
    ['INITIALIZING', {}],
    ['FAILED', { reason: 'secrets-withheld' satisfies FailureReason, finishedAt: now, leaseExpiresAt: null }],
  ];
}

/**
 * Builds what jobconfig sends runners (`job.requests`) and decides, per attempt, whether the
 * configuration's secure values go with it.
 */
export class JobRequests {
  constructor(
    private readonly configs: JobConfigService,
    private readonly logger: Logger,
    private readonly now: () => number,
    /** The keyring secure values travel encrypted with (the module always gives one). */
    private readonly secrets: SecretsKeyring | undefined,
    /** Where the job log is written when jobconfig ends an attempt itself (none in some tests). */
    private readonly storage: ObjectStorage | undefined,
  ) {}

  /** Looks up the package state of `c` (only when it holds secure values) and what it withholds. */
  async verdict(c: JobConfigRecord | undefined): Promise<RequestVerdict> {
    if (!c) return DELIVER_ALL;
    const state = await this.configs.packageState(c);
    return state ? { state, withheld: withheldKeys(c, state) } : DELIVER_ALL;
  }

  /** The configuration's secure macros withheld from `job` (a run request's own value is never withheld). */
  withheldFrom(job: JobRecord, verdict: RequestVerdict): string[] {
    return verdict.withheld.filter((k) => !job.runMacros.some((m) => m.key === k));
  }

  /**
   * Writes why the attempt did not run to the job log (after the log of earlier attempts), and to the
   * service log. Never a value.
   */
  async noteWithheld(job: JobRecord, keys: string[], verdict: RequestVerdict): Promise<void> {
    const s = verdict.state;
    const what = s
      ? `package ${s.packageName ?? '(none)'} (version ${s.packageVersion ?? 'none'}), entry point ${s.entryPoint ?? '(none)'}${s.packageArtifactOverride ? ', attached files overriding it' : ''}`
      : 'the package';
    const text =
      `secrets-withheld: the secure macro(s) ${keys.join(', ')} were set for other code than the configuration runs now (${what}): ` +
      `its package, package file or entry point changed since, by someone who may not read them. Attempt ${job.attempt} did not run. ` +
      `Whoever set them, or an administrator, confirms them for this code with POST /api/jobconfigs/${job.jobConfigId}/macrobindings.`;
    this.logger.warn(
      { jobId: job.id, jobConfigId: job.jobConfigId, attempt: job.attempt, macros: keys },
      'secure macros withheld: the configuration runs other code than they were set for; the job fails',
    );
    if (!this.storage) return;
    const line = formatJobLogLine(new Date(this.now()), 'SEVERE', 'jobconfig', text);
    const key = jobLogKey(job.id);
    // After the log of earlier attempts (a new job has none).
    const earlier = await this.storage.get(key);
    const storage = this.storage;
    await storage.put(
      key,
      Readable.from(
        (async function* () {
          if (earlier) yield* earlier.body;
          yield Buffer.from(line);
        })(),
      ),
      { contentType: 'text/plain; charset=utf-8' },
    );
  }

  /** The request of `job`'s current attempt; secure values withheld by `verdict` are left out. */
  record(job: JobRecord, c: JobConfigRecord | undefined, verdict: RequestVerdict): OutgoingRecord {
    return {
      topic: 'job.requests',
      message: {
        jobId: job.id,
        attempt: job.attempt,
        jobConfigId: job.jobConfigId,
        packagePrefix: packagePrefix(job.jobConfigId),
        packageName: job.packageName,
        entryPoint: job.entryPoint,
        packageArtifactOverride: job.packageArtifactOverride,
        logLevel: job.logLevel,
        timeoutMinutes: job.timeoutMinutes,
        macros: this.resolveMacros(c, job, new Set(this.withheldFrom(job, verdict))),
        logKey: jobLogKey(job.id),
        outPrefix: jobOutPrefix(job.id),
        requestedAt: new Date(this.now()).toISOString(),
      },
    };
  }

  /**
   * Resolved macros for the runner: configuration values, then the run request's, the run request
   * winning. Secure values travel encrypted with the keyring's first key: each is decrypted here
   * (stored values may be of an older key, or legacy plain text) and encrypted again for the request.
   */
  private resolveMacros(c: JobConfigRecord | undefined, job: JobRecord, withheld: Set<string>): RunMacro[] {
    const byKey = new Map<string, RunMacro>();
    for (const m of c?.macros ?? [])
      if (m.value !== null && !withheld.has(m.key))
        byKey.set(m.key, { key: m.key, value: m.value, secure: m.secure });
    for (const m of job.runMacros)
      byKey.set(m.key, {
        key: m.key,
        value: m.value,
        secure: m.secure || (byKey.get(m.key)?.secure ?? false),
      });
    const secrets = this.secrets;
    if (!secrets) return [...byKey.values()];
    return [...byKey.values()].map((m) => {
      if (!m.secure) return m;
      try {
        return { ...m, value: reencryptSecret(m.value, secrets) };
      } catch (err) {
        if (!(err instanceof SecretDecryptionError)) throw err;
        // Its key left SECRETS_ENCRYPTION_KEYS: sent as stored (never in plain text). The runner cannot
        // decrypt it either and fails the job, saying so in its log; the API answers as usual.
        this.logger.error(
          { jobId: job.id, jobConfigId: job.jobConfigId, macro: m.key, kid: err.kid },
          `secure macro ${m.key} cannot be decrypted (${err.message}); the job will fail: restore the key or set the macro again`,
        );
        return m;
      }
    });
  }
}
