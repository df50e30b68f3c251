import type { FileCatalogPort, JobConfigInput, JobConfigPatch, Principal } from '@im/contracts';
import { ConflictError, InputError, NotFoundError } from '@im/errors';
import { currentPrincipal } from '@im/http-kit';
import type { EventBus } from '@im/messaging';
import type { PageRequest, PageResult } from '@im/db';
import type { Logger } from '@im/logging';
import {
  mergeMacros,
  type JobConfigRecord,
  type JobConfigRepository,
  type JobConfigWrite,
} from './job-config.repository';
import type { JobRepository } from './job.repository';
import { bindSecureValues, hasSecureValues, type PackageState, type PackageStates } from './secret-binding';
import type { UserStateRepository } from './user-state.repository';

const isAdmin = (p: Principal) => p.roles.includes('admin');

const NO_PACKAGE: PackageState = {
  packageName: null,
  packageVersion: null,
  entryPoint: null,
  packageArtifactOverride: false,
};

const stateFields = (c: Pick<JobConfigRecord, 'packageName' | 'entryPoint' | 'packageArtifactOverride'>) => ({
  packageName: c.packageName,
  entryPoint: c.entryPoint,
  packageArtifactOverride: c.packageArtifactOverride,
});

const sameFields = (a: Parameters<typeof stateFields>[0], b: Parameters<typeof stateFields>[0]) =>
  a.packageName === b.packageName &&
  a.entryPoint === b.entryPoint &&
  a.packageArtifactOverride === b.packageArtifactOverride;

/** Configurations: who may see them, what a valid one is, and the change events others project. */
export class JobConfigService {
  constructor(
    private readonly configs: JobConfigRepository,
    private readonly jobs: JobRepository,
    private readonly files: FileCatalogPort,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly users?: UserStateRepository,
    /** Where the package state secure values are bound to is looked up (ADR 0016). */
    private readonly packages?: PackageStates,
  ) {}

  /**
   * The configuration, if it exists and the caller may use it: its owner, or an administrator of its
   * account. To everyone else (any user of another account, admins too) it does not exist: 404, never
   * 403, so ids cannot be probed.
   */
  async getFor(principal: Principal, id: string): Promise<JobConfigRecord> {
    const c = await this.configs.findById(id);
    if (!c || c.accountId !== principal.accountId || (c.ownerId !== principal.id && !isAdmin(principal))) {
      throw new NotFoundError(`There is no job configuration ${id}. List yours with GET /api/jobconfigs.`);
    }
    return c;
  }

  /** Internal lookup without an access check (for the job machinery, never for a request). */
  findById(id: string): Promise<JobConfigRecord | undefined> {
    return this.configs.findById(id);
  }

  /**
   * For file-storage (ConfigAccessPort): the caller is judged by their current state there too (a
   * deactivated user's token refused, a demoted user's without the role), as on jobconfig's routes.
   */
  async assertAccess(principal: Principal, id: string): Promise<void> {
    const state = await this.users?.get(principal.id);
    await this.getFor(currentPrincipal(principal, state), id);
  }

  /** True when the configuration's owner is deactivated: its jobs do not run (by hand or on schedule). */
  async ownerInactive(c: JobConfigRecord): Promise<boolean> {
    return (await this.users?.isInactive(c.ownerId)) ?? false;
  }

  /** Admins see every configuration of their account, others their own. */
  list(principal: Principal, req: PageRequest): Promise<PageResult<JobConfigRecord>> {
    return this.configs.page(
      { accountId: principal.accountId, ...(isAdmin(principal) ? {} : { ownerId: principal.id }) },
      req,
    );
  }

  async create(principal: Principal, input: JobConfigInput): Promise<JobConfigRecord> {
    const w = this.toWrite(principal, undefined, input);
    if (w.packageName || w.entryPoint) {
      throw new InputError(
        'Attach the package first: create the configuration, upload the package to it, then set runtimeConfig.',
        [
          {
            path: w.packageName ? 'runtimeConfig.packageName' : 'runtimeConfig.entryPoint',
            message: 'the new configuration has no files yet',
          },
        ],
      );
    }
    // Nothing to run yet: new secure values are bound to no package (ADR 0016).
    w.macros = bindSecureValues(w.macros, NO_PACKAGE, NO_PACKAGE, principal, w.updatedAt);
    const created = await this.configs.insert(
      { id: principal.id, name: principal.name, accountId: principal.accountId },
      w,
    );
    await this.publishChanged(created, 'created');
    return created;
  }

  /** PUT: replaces the configuration with the input (server-set fields kept). */
  async replace(principal: Principal, id: string, input: JobConfigInput): Promise<JobConfigRecord> {
    const current = await this.getFor(principal, id);
    const w = this.toWrite(principal, current, input);
    await this.checkPackage(principal, id, current, w);
    w.macros = await this.bindSecrets(principal, current, w);
    const updated = (await this.configs.update(id, w)) as JobConfigRecord;
    await this.publishChanged(updated, 'updated');
    return updated;
  }

  /** PATCH: merges the given fields (and `runtimeConfig` field by field) into the configuration. */
  async patch(principal: Principal, id: string, input: JobConfigPatch): Promise<JobConfigRecord> {
    const current = await this.getFor(principal, id);
    const merged: JobConfigInput = {
      name: input.name ?? current.name,
      active: input.active ?? current.active,
      description: input.description === undefined ? current.description : input.description,
      timeout: input.timeout ?? current.timeoutMinutes,
      blocking: input.blocking ?? current.blocking,
      maxAttempts: input.maxAttempts ?? current.maxAttempts,
      schedule: input.schedule === undefined ? current.schedule : input.schedule,
      tags: input.tags ?? current.tags,
      runtimeConfig: {
        packageName: current.packageName,
        entryPoint: current.entryPoint,
        packageArtifactOverride: current.packageArtifactOverride,
        logLevel: current.logLevel,
        macros: current.macros.map((m) => ({
          key: m.key,
          value: m.secure ? undefined : m.value,
          secure: m.secure,
          description: m.description,
        })),
        ...Object.fromEntries(Object.entries(input.runtimeConfig ?? {}).filter(([, v]) => v !== undefined)),
      },
    };
    return this.replace(principal, id, merged);
  }

  async delete(principal: Principal, id: string): Promise<void> {
    const current = await this.getFor(principal, id);
    if ((await this.jobs.countUnfinished(id)) > 0) {
      throw new ConflictError(
        `Job configuration ${id} has unfinished jobs; cancel them (DELETE /api/jobs/{id}) or wait for them to end, then delete it.`,
        'CONFIG_HAS_UNFINISHED_JOBS',
      );
    }
    await this.configs.delete(id);
    await this.publishChanged(current, 'deleted');
  }

  private toWrite(
    principal: Principal,
    current: JobConfigRecord | undefined,
    input: JobConfigInput,
  ): JobConfigWrite {
    const rc = input.runtimeConfig ?? {};
    return {
      name: input.name,
      description: input.description ?? null,
      active: input.active ?? true,
      packageName: rc.packageName ?? null,
      entryPoint: rc.entryPoint ?? null,
      packageArtifactOverride: rc.packageArtifactOverride ?? false,
      logLevel: rc.logLevel ?? 'INFO',
      macros: rc.macros ? mergeMacros(current?.macros ?? [], rc.macros) : (current?.macros ?? []),
      timeoutMinutes: input.timeout ?? 0,
      blocking: input.blocking ?? false,
      maxAttempts: input.maxAttempts ?? 1,
      schedule: input.schedule ?? null,
      tags: input.tags ?? [],
      updatedAt: this.now(),
      updatedBy: { id: principal.id, name: principal.name },
    };
  }

  /**
   * The package state a configuration runs (what its secure values are bound to); without secure
   * values it is not looked up (null).
   */
  async packageState(c: JobConfigRecord): Promise<PackageState | null> {
    if (!hasSecureValues(c.macros)) return null;
    return this.lookUpPackageState(c);
  }

  /** The package state a configuration runs, looked up in object storage. */
  async lookUpPackageState(
    c: Pick<JobConfigRecord, 'id' | 'packageName' | 'entryPoint' | 'packageArtifactOverride'>,
  ): Promise<PackageState> {
    return this.packages ? this.packages.of(c) : { ...NO_PACKAGE, ...stateFields(c) };
  }

  /** The macros of `w` with new secure values bound, and bindings carried along by whoever may (ADR 0016). */
  private async bindSecrets(principal: Principal, current: JobConfigRecord, w: JobConfigWrite) {
    if (!hasSecureValues(w.macros)) return w.macros;
    const after = await this.packageState({ ...current, ...w });
    const unchanged = sameFields(current, w);
    const before = unchanged ? after : await this.packageState({ ...current, macros: w.macros });
    return bindSecureValues(w.macros, before ?? NO_PACKAGE, after ?? NO_PACKAGE, principal, w.updatedAt);
  }

  /** A package must be attached, and an entry point must be in it, before the configuration points at them. */
  private async checkPackage(
    principal: Principal,
    id: string,
    current: JobConfigRecord,
    w: JobConfigWrite,
  ): Promise<void> {
    if (w.entryPoint && !w.packageName) {
      throw new InputError('An entry point needs a package: set runtimeConfig.packageName too.', [
        { path: 'runtimeConfig.packageName', message: 'required when entryPoint is set' },
      ]);
    }
    if (!w.packageName) return;
    const unchanged = w.packageName === current.packageName && w.entryPoint === current.entryPoint;
    if (unchanged) return;
    if (!(await this.files.exists(principal, id, w.packageName))) {
      throw new InputError(
        `The package "${w.packageName}" is not attached to job configuration ${id}; upload it with POST /api/jobconfigs/${id}/files first.`,
        [{ path: 'runtimeConfig.packageName', message: 'not attached to this configuration' }],
        'PACKAGE_NOT_ATTACHED',
      );
    }
    if (!w.entryPoint) return;
    const entryPoints = await this.files.entryPoints(principal, id, w.packageName);
    if (!entryPoints.includes(w.entryPoint)) {
      const shown = entryPoints.slice(0, 20).join(', ') || 'none';
      throw new InputError(
        `The entry point "${w.entryPoint}" is not in "${w.packageName}". Its entry points: ${shown}.`,
        [{ path: 'runtimeConfig.entryPoint', message: 'not an entry point of the package' }],
        'ENTRY_POINT_NOT_FOUND',
      );
    }
  }

  async entryPoints(
    principal: Principal,
    id: string,
  ): Promise<{ packageName: string; entryPoints: string[] }> {
    const c = await this.getFor(principal, id);
    if (!c.packageName) {
      throw new NotFoundError(
        `Job configuration ${id} has no package selected; set runtimeConfig.packageName first.`,
      );
    }
    return {
      packageName: c.packageName,
      entryPoints: await this.files.entryPoints(principal, id, c.packageName),
    };
  }

  /** Publishes a configuration change (for the projections of other services); never fails the caller. */
  async publishChanged(c: JobConfigRecord, change: 'created' | 'updated' | 'deleted'): Promise<void> {
    try {
      await this.bus.publish('jobconfig.changes', {
        jobConfigId: c.id,
        ownerId: c.ownerId,
        accountId: c.accountId,
        name: c.name,
        change,
        occurredAt: new Date(this.now()).toISOString(),
      });
    } catch (err) {
      // The change is committed; projections catch up on the next change. (The outbox makes this exact.)
      this.logger.error({ err, jobConfigId: c.id, change }, 'could not publish the configuration change');
    }
  }
}
