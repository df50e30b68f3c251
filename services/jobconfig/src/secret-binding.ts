import { packagePrefix, type Principal } from '@im/contracts';
import type { ObjectStorage } from '@im/storage';
import { createHash } from 'node:crypto';
import type { JobConfigRecord, JobConfigRepository } from './job-config.repository';

/**
 * What code a configuration runs, as far as its secure macros are concerned (ADR 0016): the package
 * file, its content version and the entry point. `packageVersion` is the stored object's ETag (it
 * changes whenever the file is replaced); with `packageArtifactOverride` every attached file can
 * replace a file of the package, so it is a digest of every attached file's name and ETag instead.
 */
export interface PackageState {
  packageName: string | null;
  packageVersion: string | null;
  entryPoint: string | null;
  packageArtifactOverride: boolean;
}

/**
 * A secure macro's value is bound, when it is set (or confirmed), to the package state then and to
 * who set it. Stored with the macro (in `job_configs.macros`); never returned by the API.
 */
export interface MacroBinding extends PackageState {
  by: { id: string; name: string };
  at: number;
}

/** The configuration fields the rule reads. */
export interface BindingSubject {
  id: string;
  ownerId: string;
  packageName: string | null;
  entryPoint: string | null;
  packageArtifactOverride: boolean;
  macros: readonly { key: string; secure: boolean; value: string | null; binding?: MacroBinding }[];
}

const isAdmin = (p: Principal) => p.roles.includes('admin');

export function sameState(a: PackageState, b: PackageState): boolean {
  return (
    a.packageName === b.packageName &&
    a.packageVersion === b.packageVersion &&
    a.entryPoint === b.entryPoint &&
    a.packageArtifactOverride === b.packageArtifactOverride
  );
}

export function bindingOf(state: PackageState, by: Principal, at: number): MacroBinding {
  return { ...state, by: { id: by.id, name: by.name }, at };
}

/**
 * The rule: a secure value goes to a run when the configuration still runs the code it was bound to,
 * or when it was set by the configuration's owner (only the owner and the account's administrators
 * can change what a configuration runs, and both may read what the owner set). A value without a
 * binding (stored before bindings existed and not yet bound at start-up) is withheld too.
 */
export function isWithheld(
  c: Pick<BindingSubject, 'ownerId'>,
  m: BindingSubject['macros'][number],
  now: PackageState,
): boolean {
  if (!m.secure || m.value === null) return false;
  if (!m.binding) return true;
  if (m.binding.by.id === c.ownerId) return false;
  return !sameState(m.binding, now);
}

/** The keys of the secure macros a run of `c` would not receive now. */
export function withheldKeys(c: BindingSubject, now: PackageState): string[] {
  return c.macros.filter((m) => isWithheld(c, m, now)).map((m) => m.key);
}

/** Whoever set a value may confirm it again; an administrator of the account may confirm any. */
export function mayConfirm(principal: Principal, m: { binding?: MacroBinding }): boolean {
  return isAdmin(principal) || m.binding?.by.id === principal.id;
}

interface BindableMacro {
  secure: boolean;
  value: string | null;
  binding?: MacroBinding;
}

/** True when the list holds a secure value (only then is the package state worth looking up). */
export function hasSecureValues(macros: readonly BindableMacro[]): boolean {
  return macros.some((m) => m.secure && m.value !== null);
}

/**
 * The macros once `by` wrote them with the configuration running `after` (it ran `before`): a new
 * secure value (one without a binding) is bound to `after`; a binding `by` may confirm that held for
 * `before` moves to `after` (its setter or an administrator changed the package or entry point); other
 * bindings stay, so a change by someone else withholds their values until they are confirmed.
 */
export function bindSecureValues<M extends BindableMacro>(
  macros: readonly M[],
  before: PackageState,
  after: PackageState,
  by: Principal,
  at: number,
): M[] {
  const moved = !sameState(before, after);
  return macros.map((m) => {
    if (!m.secure || m.value === null) return m;
    if (!m.binding) return { ...m, binding: bindingOf(after, by, at) };
    if (moved && mayConfirm(by, m) && sameState(m.binding, before))
      return { ...m, binding: { ...m.binding, ...after } };
    return m;
  });
}

/**
 * Confirms the secure values `by` may confirm for the code the configuration runs now: their bindings
 * move to `now` (their setter stays). Answers the keys confirmed.
 */
export function confirmSecureValues<M extends BindableMacro & { key: string }>(
  macros: readonly M[],
  now: PackageState,
  by: Principal,
  at: number,
): { macros: M[]; confirmed: string[] } {
  const confirmed: string[] = [];
  const out = macros.map((m) => {
    if (!m.secure || m.value === null || !mayConfirm(by, m)) return m;
    confirmed.push(m.key);
    return { ...m, binding: { ...now, by: m.binding?.by ?? { id: by.id, name: by.name }, at } };
  });
  return { macros: out, confirmed };
}

/** Looks up the package state of configurations in object storage (where runners fetch packages). */
export class PackageStates {
  constructor(private readonly storage: ObjectStorage) {}

  async of(c: Pick<BindingSubject, 'id' | 'packageName' | 'entryPoint' | 'packageArtifactOverride'>) {
    const state: PackageState = {
      packageName: c.packageName,
      packageVersion: null,
      entryPoint: c.entryPoint,
      packageArtifactOverride: c.packageArtifactOverride,
    };
    if (!c.packageName) return state;
    const prefix = `${packagePrefix(c.id)}/`;
    if (!c.packageArtifactOverride) {
      const head = await this.storage.head(`${prefix}${c.packageName}`);
      return { ...state, packageVersion: head?.etag ?? null };
    }
    const digest = createHash('sha256');
    for await (const o of this.storage.list(prefix)) digest.update(`${o.key}\0${o.etag}\n`);
    return { ...state, packageVersion: `files:${digest.digest('hex')}` };
  }
}

/** Who "set" the secure values stored before bindings existed (only administrators confirm them). */
export const LEGACY_SETTER = { id: '', name: '(set before secure values were bound)' };

/** Configurations read per round trip by {@link bindLegacySecureValues}. */
const LEGACY_BATCH = 200;

/**
 * At start-up: binds every secure value stored before bindings existed to the code its configuration
 * runs now (a value without a binding is withheld from runs). Their setter is unknown: they count as
 * set by someone other than the owner, so only an administrator confirms them after a change. A
 * compare-and-set per configuration, like sealing; lastModified is not touched. Answers how many
 * configurations it bound.
 */
export async function bindLegacySecureValues(
  repo: Pick<JobConfigRepository, 'idsWithSecureMacros' | 'findById' | 'updateMacros'>,
  states: { lookUpPackageState(c: JobConfigRecord): Promise<PackageState> },
  now: number,
): Promise<number> {
  let bound = 0;
  let after = 0;
  for (;;) {
    const ids = await repo.idsWithSecureMacros(after, LEGACY_BATCH);
    for (const id of ids) {
      const c = await repo.findById(id);
      if (!c?.macros.some((m) => m.secure && m.value !== null && !m.binding)) continue;
      const state = await states.lookUpPackageState(c);
      const by = { ...LEGACY_SETTER, roles: [], accountId: c.accountId };
      await repo.updateMacros(id, (current) => bindSecureValues(current.macros, state, state, by, now));
      bound++;
    }
    if (ids.length < LEGACY_BATCH) return bound;
    after = Number(ids.at(-1));
  }
}
