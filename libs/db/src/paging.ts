import { InputError } from '@im/errors';
import type { Knex } from 'knex';

export interface PageRequest {
  /** Zero-based page number (the contract calls it `offset`). */
  page: number;
  size: number;
  sortby?: string | undefined;
  direction?: string | undefined;
}

export interface PageResult<Row> {
  rows: Row[];
  total: number;
}

/** A 400 (problem+json) naming the fields a list can be sorted by. */
export class UnknownSortFieldError extends InputError {
  constructor(
    readonly field: string,
    readonly allowed: string[],
  ) {
    super(`Cannot sort by "${field}"; sort by one of: ${allowed.join(', ')}.`, [
      { path: 'sortby', message: `one of ${allowed.join(', ')}` },
    ]);
  }
}

/**
 * Runs `query` for one page. `sortable` maps public field names to columns; anything else is refused,
 * so a client cannot sort by an arbitrary column. `tiebreak` keeps the order stable across pages.
 */
export async function fetchPage<Row>(
  query: Knex.QueryBuilder,
  req: PageRequest,
  sortable: Record<string, string>,
  tiebreak: string,
): Promise<PageResult<Row>> {
  const countRow = (await query.clone().clearSelect().clearOrder().count({ n: '*' }).first()) as
    { n: number | string } | undefined;
  const total = Number(countRow?.n ?? 0);
  const fields = req.sortby
    ? req.sortby
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
  const dirs = req.direction ? req.direction.split(',').map((s) => s.trim().toLowerCase()) : [];
  const q = query.clone();
  fields.forEach((f, i) => {
    // Own keys only: `constructor` or `__proto__` must not pass for a sortable field.
    const column = Object.hasOwn(sortable, f) ? sortable[f] : undefined;
    if (!column) throw new UnknownSortFieldError(f, Object.keys(sortable));
    q.orderBy(column, dirs[i] === 'desc' ? 'desc' : 'asc');
  });
  q.orderBy(tiebreak, 'asc');
  const rows = (await q.limit(req.size).offset(req.page * req.size)) as Row[];
  return { rows, total };
}
