import type { MacroRequest, Principal } from '@im/contracts';
import { ConflictError, InputError, NotFoundError } from '@im/errors';
import { mergeMacros, type JobConfigRepository, type StoredMacro } from './job-config.repository';
import type { JobConfigService } from './job-config.service';
import { bindSecureValues, confirmSecureValues, withheldKeys, type PackageState } from './secret-binding';

/** Most macros a configuration holds (the same limit as `runtimeConfig.macros`). */
export const MAX_MACROS = 500;

const SORTABLE = ['key', 'name'] as const;

export interface MacroPage {
  rows: StoredMacro[];
  total: number;
}

/**
 * The macros of a configuration as sub-resources (`/jobconfigs/{id}/macros…`). They are the same list
 * as the configuration's `runtimeConfig.macros`; the same access rules apply (the owner or an
 * administrator; to anyone else the configuration does not exist). Every change is a compare-and-set
 * on that list and counts as a change of the configuration (lastModified, the change event).
 */
export class MacroService {
  constructor(
    private readonly repo: JobConfigRepository,
    private readonly configs: JobConfigService,
    private readonly now: () => number = Date.now,
  ) {}

  async list(
    principal: Principal,
    id: string,
    page: { page: number; size: number; sortby?: string | undefined; direction?: string | undefined },
  ): Promise<MacroPage> {
    const c = await this.configs.getFor(principal, id);
    const rows = [...c.macros];
    if (page.sortby) {
      const fields = page.sortby.split(',').map((f) => f.trim());
      const directions = (page.direction ?? '').split(',').map((d) => d.trim().toLowerCase());
      for (const f of fields) {
        if (!(SORTABLE as readonly string[]).includes(f))
          throw new InputError(`Macros cannot be sorted by "${f}".`, [
            { path: 'sortby', message: `one of ${SORTABLE.join(', ')}` },
          ]);
      }
      // Every sortable field is the key; the first one decides.
      const desc = directions[0] === 'desc';
      rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) * (desc ? -1 : 1));
    }
    const start = page.page * page.size;
    return { rows: rows.slice(start, start + page.size), total: rows.length };
  }

  async get(principal: Principal, id: string, name: string): Promise<StoredMacro> {
    const c = await this.configs.getFor(principal, id);
    const m = c.macros.find((x) => x.key === name);
    if (!m) throw notFound(id, name);
    return m;
  }

  /** Adds a macro; a 409 when the configuration has one with that key already. */
  async create(principal: Principal, id: string, input: MacroRequest): Promise<StoredMacro> {
    const key = input.key ?? input.name;
    if (key === undefined)
      throw new InputError('The macro needs a key.', [{ path: 'key', message: 'is required' }]);
    const c = await this.configs.getFor(principal, id);
    const state = input.secure ? await this.configs.lookUpPackageState(c) : undefined;
    const updated = await this.change(principal, id, state, (macros) => {
      if (macros.some((m) => m.key === key)) {
        throw new ConflictError(
          `Job configuration ${id} has a macro ${key} already; change it with PUT /api/jobconfigs/${id}/macros/${key}.`,
        );
      }
      if (macros.length >= MAX_MACROS)
        throw new InputError(`A configuration holds at most ${MAX_MACROS} macros.`, [
          { path: 'key', message: `the configuration has ${MAX_MACROS} macros already` },
        ]);
      const [created] = mergeMacros(
        [],
        [{ key, value: input.value, secure: input.secure ?? false, description: input.description }],
        '',
      );
      return [...macros, created as StoredMacro];
    });
    return updated.find((m) => m.key === key) as StoredMacro;
  }

  /**
   * Creates or replaces the macro `name`. A value left out keeps the stored one (a secure macro's
   * value is write-only), `secure` left out keeps the stored flag. Resolves with the macro and
   * whether it was created.
   */
  async put(
    principal: Principal,
    id: string,
    name: string,
    input: MacroRequest,
  ): Promise<{ macro: StoredMacro; created: boolean }> {
    for (const [field, v] of [
      ['key', input.key],
      ['name', input.name],
    ] as const) {
      if (v !== undefined && v !== name)
        throw new InputError(`The body's ${field} "${v}" differs from the macro in the path, "${name}".`, [
          { path: field, message: `must be ${name} (the name in the path) or left out` },
        ]);
    }
    const c = await this.configs.getFor(principal, id);
    const secure = input.secure ?? c.macros.find((m) => m.key === name)?.secure ?? false;
    const state = secure ? await this.configs.lookUpPackageState(c) : undefined;
    let created = false;
    const updated = await this.change(principal, id, state, (macros) => {
      const at = macros.findIndex((m) => m.key === name);
      created = at < 0;
      if (created && macros.length >= MAX_MACROS)
        throw new InputError(`A configuration holds at most ${MAX_MACROS} macros.`, [
          { path: 'name', message: `the configuration has ${MAX_MACROS} macros already` },
        ]);
      const old = at < 0 ? undefined : macros[at];
      const [next] = mergeMacros(
        old ? [old] : [],
        [
          {
            key: name,
            value: input.value,
            secure: input.secure ?? old?.secure ?? false,
            description: input.description,
          },
        ],
        '',
      );
      const out = [...macros];
      if (at < 0) out.push(next as StoredMacro);
      else out[at] = next as StoredMacro;
      return out;
    });
    return { macro: updated.find((m) => m.key === name) as StoredMacro, created };
  }

  async delete(principal: Principal, id: string, name: string): Promise<void> {
    await this.configs.getFor(principal, id);
    await this.change(principal, id, undefined, (macros) => {
      if (!macros.some((m) => m.key === name)) throw notFound(id, name);
      return macros.filter((m) => m.key !== name);
    });
  }

  /**
   * POST /jobconfigs/{id}/macrobindings: the caller confirms that the code the configuration runs now
   * may receive the secure values they may confirm (all for an administrator, those they set for
   * anyone else; ADR 0016). Answers what was confirmed and what stays withheld from runs.
   */
  async confirm(
    principal: Principal,
    id: string,
  ): Promise<{ state: PackageState; confirmed: string[]; withheld: string[] }> {
    const c = await this.configs.getFor(principal, id);
    const state = await this.configs.lookUpPackageState(c);
    let confirmed: string[] = [];
    const at = this.now();
    const updated = await this.repo.updateMacros(
      id,
      (current) => {
        const out = confirmSecureValues(current.macros, state, principal, at);
        confirmed = out.confirmed;
        return out.macros;
      },
      { updatedAt: at, updatedBy: { id: principal.id, name: principal.name } },
    );
    if (!updated)
      throw new NotFoundError(`There is no job configuration ${id}. List yours with GET /api/jobconfigs.`);
    await this.configs.publishChanged(updated, 'updated');
    return { state, confirmed, withheld: withheldKeys(updated, state) };
  }

  /** `state`: the package state now, when a secure value may be set (new secure values are bound to it). */
  private async change(
    principal: Principal,
    id: string,
    state: PackageState | undefined,
    fn: (macros: StoredMacro[]) => StoredMacro[],
  ): Promise<StoredMacro[]> {
    const at = this.now();
    const updated = await this.repo.updateMacros(
      id,
      (c) => (state ? bindSecureValues(fn(c.macros), state, state, principal, at) : fn(c.macros)),
      { updatedAt: at, updatedBy: { id: principal.id, name: principal.name } },
    );
    // Deleted between the access check and the change.
    if (!updated)
      throw new NotFoundError(`There is no job configuration ${id}. List yours with GET /api/jobconfigs.`);
    await this.configs.publishChanged(updated, 'updated');
    return updated.macros;
  }
}

function notFound(id: string, name: string): NotFoundError {
  return new NotFoundError(
    `Job configuration ${id} has no macro ${name}. List its macros with GET /api/jobconfigs/${id}/macros.`,
  );
}
