import jsonata from 'jsonata';
import { compileExpression, SLOW } from './jsonata.expression';

/** The fast path must give exactly what JSONata gives, errors included. */
describe('JSONata fast path', () => {
  const expressions = [
    'first & " " & last',
    'first & missing & "!"',
    'city & "-" & id',
    'city',
    'missing',
    '$number(id)',
    '$lowercase(email)',
    '$uppercase(email)',
    '$string(city)',
    '$trim(city)',
    '$number(amount)',
  ];
  const rows: unknown[] = [
    {
      id: '42',
      email: 'Ada@Example.COM',
      city: '  New   York ',
      amount: '1.50',
      first: 'Ada',
      last: 'Lovelace',
    },
    { id: '-0.5e3', email: '', city: 'Paris', amount: '00' },
    { id: 7, email: null, city: null, amount: 'abc' },
    { id: '12 ', email: ['a', 'b'], city: { nested: true }, amount: true },
    { id: undefined },
    [
      { id: '1', city: 'x' },
      { id: '2', city: 'y' },
    ],
    'not an object',
  ];

  for (const source of expressions) {
    it(`answers ${source} as JSONata does`, async () => {
      const fast = compileExpression(source);
      const reference = jsonata(source);
      for (const row of rows) {
        const expected = await Promise.resolve(reference.evaluate(row)).then(
          (v: unknown) => ({ ok: true as const, v }),
          (e: { code?: string }) => ({ ok: false as const, code: e.code }),
        );
        const actual = await fast.evaluate(row).then(
          (v) => ({ ok: true as const, v }),
          (e: { code?: string }) => ({ ok: false as const, code: e.code }),
        );
        expect({ row, source, r: actual }).toEqual({ row, source, r: expected });
        // The promise-free answer, when given, is the same one.
        const sync = fast.evaluateFast(row);
        if (sync !== SLOW)
          expect({ row, source, r: { ok: true, v: sync } }).toEqual({ row, source, r: expected });
      }
    });
  }
});
