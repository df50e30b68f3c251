import { createDb, type Knex } from './knex-factory';
import { fetchPage, UnknownSortFieldError } from './paging';

interface Item {
  id: number;
  name: string;
  size: number;
}

// id order differs from name and size order, so every ordering is observable.
const ITEMS: Item[] = [
  { id: 1, name: 'delta', size: 20 },
  { id: 2, name: 'alpha', size: 10 },
  { id: 3, name: 'echo', size: 30 },
  { id: 4, name: 'charlie', size: 10 },
  { id: 5, name: 'bravo', size: 20 },
  { id: 6, name: 'golf', size: 10 },
  { id: 7, name: 'foxtrot', size: 30 },
];

const SORTABLE = { name: 'name', size: 'size_bytes', id: 'id' };

describe('fetchPage on SQLite', () => {
  let db: Knex;

  beforeAll(async () => {
    db = createDb({ client: 'sqlite', filename: ':memory:' });
    await db.schema.createTable('items', (t) => {
      t.integer('id').primary();
      t.string('name');
      t.integer('size_bytes');
    });
    await db('items').insert(ITEMS.map((i) => ({ id: i.id, name: i.name, size_bytes: i.size })));
  });

  afterAll(async () => {
    await db.destroy();
  });

  const query = () => db('items').select('id', 'name', { size: 'size_bytes' });
  const ids = (rows: Item[]) => rows.map((r) => r.id);

  it('returns the total and the first page in tiebreak order without a sort', async () => {
    const page = await fetchPage<Item>(query(), { page: 0, size: 3 }, SORTABLE, 'id');
    expect(page.total).toBe(7);
    expect(page.rows).toEqual([
      { id: 1, name: 'delta', size: 20 },
      { id: 2, name: 'alpha', size: 10 },
      { id: 3, name: 'echo', size: 30 },
    ]);
  });

  it('treats the request page as a page number, not a row offset', async () => {
    const second = await fetchPage<Item>(query(), { page: 1, size: 3 }, SORTABLE, 'id');
    expect(ids(second.rows)).toEqual([4, 5, 6]);
    expect(second.total).toBe(7);
    const last = await fetchPage<Item>(query(), { page: 2, size: 3 }, SORTABLE, 'id');
    expect(ids(last.rows)).toEqual([7]);
    const beyond = await fetchPage<Item>(query(), { page: 5, size: 3 }, SORTABLE, 'id');
    expect(beyond).toEqual({ rows: [], total: 7 });
  });

  it('counts only the rows the query selects', async () => {
    const page = await fetchPage<Item>(query().where('size_bytes', 10), { page: 0, size: 2 }, SORTABLE, 'id');
    expect(page.total).toBe(3);
    expect(ids(page.rows)).toEqual([2, 4]);
  });

  it('sorts by a public field mapped to its column, ascending by default', async () => {
    const page = await fetchPage<Item>(query(), { page: 0, size: 7, sortby: 'name' }, SORTABLE, 'id');
    expect(page.rows.map((r) => r.name)).toEqual([
      'alpha',
      'bravo',
      'charlie',
      'delta',
      'echo',
      'foxtrot',
      'golf',
    ]);
  });

  it('sorts descending when asked, in any letter case', async () => {
    const page = await fetchPage<Item>(
      query(),
      { page: 0, size: 3, sortby: 'name', direction: 'DESC' },
      SORTABLE,
      'id',
    );
    expect(page.rows.map((r) => r.name)).toEqual(['golf', 'foxtrot', 'echo']);
  });

  it('applies one direction per field and breaks ties with the tiebreak', async () => {
    const page = await fetchPage<Item>(
      query(),
      { page: 0, size: 7, sortby: 'size, name', direction: 'desc, asc' },
      SORTABLE,
      'id',
    );
    expect(page.rows.map((r) => `${r.size}:${r.name}`)).toEqual([
      '30:echo',
      '30:foxtrot',
      '20:bravo',
      '20:delta',
      '10:alpha',
      '10:charlie',
      '10:golf',
    ]);
  });

  it('sorts the fields without a direction ascending', async () => {
    const page = await fetchPage<Item>(
      query(),
      { page: 0, size: 7, sortby: 'size,name', direction: 'desc' },
      SORTABLE,
      'id',
    );
    expect(page.rows.map((r) => r.name)).toEqual([
      'echo',
      'foxtrot',
      'bravo',
      'delta',
      'alpha',
      'charlie',
      'golf',
    ]);
  });

  it('keeps pages stable on ties: every row appears exactly once across pages', async () => {
    const seen: number[] = [];
    for (let page = 0; page < 4; page++) {
      const r = await fetchPage<Item>(query(), { page, size: 2, sortby: 'size' }, SORTABLE, 'id');
      seen.push(...ids(r.rows));
    }
    // size asc, then id asc inside each size.
    expect(seen).toEqual([2, 4, 6, 1, 5, 3, 7]);
  });

  it('refuses an unknown sort field, naming the allowed ones', async () => {
    const attempt = fetchPage<Item>(query(), { page: 0, size: 3, sortby: 'name,password' }, SORTABLE, 'id');
    await expect(attempt).rejects.toBeInstanceOf(UnknownSortFieldError);
    await expect(attempt).rejects.toThrow('Cannot sort by "password"; sort by one of: name, size, id.');
    await expect(attempt).rejects.toMatchObject({ field: 'password', allowed: ['name', 'size', 'id'] });
  });

  it('refuses a column name that is not a public field', async () => {
    await expect(
      fetchPage<Item>(query(), { page: 0, size: 3, sortby: 'size_bytes' }, SORTABLE, 'id'),
    ).rejects.toBeInstanceOf(UnknownSortFieldError);
  });

  it('refuses names inherited from Object.prototype (a 400, not a database error)', async () => {
    for (const sortby of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      await expect(
        fetchPage<Item>(query(), { page: 0, size: 3, sortby }, SORTABLE, 'id'),
      ).rejects.toBeInstanceOf(UnknownSortFieldError);
    }
  });
});
