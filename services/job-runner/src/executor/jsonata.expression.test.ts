import { compileDocumentPath, compileExpression, JsonataExpression, truthy } from './jsonata.expression';

describe('JSONata expressions', () => {
  it('compiles once and evaluates many times', async () => {
    const e = compileExpression('$number(a) * 2');
    expect(await e.evaluate({ a: '2' })).toBe(4);
    expect(await e.evaluate({ a: '5' })).toBe(10);
  });

  it('says what is wrong with an invalid expression, as a schema issue too', () => {
    expect(() => compileExpression('a = ')).toThrow(/^invalid JSONata: S0\d+: /);
    const r = JsonataExpression.safeParse('(');
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(/^invalid JSONata: /);
  });

  it("casts to boolean like JSONata's $boolean", () => {
    for (const v of [undefined, null, false, 0, '', [], {}, [0, ''], () => 1]) expect(truthy(v)).toBe(false);
    for (const v of [true, 1, -1, 'x', [0, 1], { a: 0 }]) expect(truthy(v)).toBe(true);
  });

  it('walks a dotted path as is (a one-element array stays an array) and anything else as JSONata', async () => {
    const doc = { data: { items: [{ id: 1 }] }, n: 2 };
    const dotted = compileDocumentPath('data.items');
    expect(dotted.kind).toBe('path');
    expect(await dotted.get(doc)).toEqual([{ id: 1 }]);
    expect(await compileDocumentPath('data.missing.deeper').get(doc)).toBeUndefined();
    const expr = compileDocumentPath('data.items[id = 1]');
    expect(expr.kind).toBe('jsonata');
    expect(await expr.get(doc)).toEqual({ id: 1 });
  });
});
