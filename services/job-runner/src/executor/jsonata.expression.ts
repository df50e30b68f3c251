import { z } from '@im/contracts';
import jsonata from 'jsonata';

/** A JSONata expression compiled once (when the definition is validated) and evaluated many times. */
export interface CompiledExpression {
  /** The expression's text, as written in the definition. */
  readonly source: string;
  evaluate(input: unknown): Promise<unknown>;
  /**
   * The answer without a promise when the fast path knows it, else {@link SLOW}: a transform maps a
   * row with no await at all when every field takes the fast path.
   */
  evaluateFast(input: unknown): unknown;
}

/** Returned by {@link CompiledExpression.evaluateFast} when only JSONata itself can answer. */
export const SLOW: unique symbol = Symbol('slow');

/** The message of a JSONata error with its code and, when known, the position in the expression. */
export function describeJsonataError(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; position?: unknown };
    const message = typeof e.message === 'string' ? e.message : JSON.stringify(err);
    const code = typeof e.code === 'string' ? `${e.code}: ` : '';
    const at = typeof e.position === 'number' && e.position > 0 ? ` (at character ${e.position})` : '';
    return `${code}${message}${at}`;
  }
  return String(err);
}

/** Compiles a JSONata expression; throws an Error whose message says what is wrong with it. */
export function compileExpression(source: string): CompiledExpression {
  let expr: jsonata.Expression;
  try {
    expr = jsonata(source);
  } catch (err) {
    throw new Error(`invalid JSONata: ${describeJsonataError(err)}`, { cause: err });
  }
  const slow = (input: unknown) => expr.evaluate(input) as Promise<unknown>;
  const fast = fastPath(source.trim());
  return {
    source,
    evaluateFast: fast
      ? (input) => {
          const v = fast(input);
          return v === FALLBACK ? SLOW : v;
        }
      : () => SLOW,
    // The fast path answers the common shapes (`field`, `$number(field)`, …) without the interpreter;
    // whenever it cannot be sure to give JSONata's answer it hands the row to JSONata itself.
    evaluate: fast
      ? (input) => {
          const v = fast(input);
          return v === FALLBACK ? slow(input) : Promise.resolve(v);
        }
      : slow,
  };
}

const FALLBACK = Symbol('fallback');
type FastEvaluator = (input: unknown) => unknown;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** JSONata's own test for a string $number accepts. */
const JSONATA_NUMBER = /^-?(0|([1-9][0-9]*))(\.[0-9]+)?([Ee][-+]?[0-9]+)?$/;

const FAST_FUNCTIONS: Record<string, (v: unknown) => unknown> = {
  $number: (v) =>
    typeof v === 'number' ? v : typeof v === 'string' && JSONATA_NUMBER.test(v) ? Number(v) : FALLBACK,
  $string: (v) => (typeof v === 'string' ? v : FALLBACK),
  $lowercase: (v) => (typeof v === 'string' ? v.toLowerCase() : FALLBACK),
  $uppercase: (v) => (typeof v === 'string' ? v.toUpperCase() : FALLBACK),
  $trim: (v) => (typeof v === 'string' ? v.replace(/[ \t\n\r]+/gm, ' ').replace(/^ | $/g, '') : FALLBACK),
};

/** A primitive field of a plain object row, or FALLBACK when JSONata's sequence rules could apply. */
function field(input: unknown, name: string): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return FALLBACK;
  const v = (input as Record<string, unknown>)[name];
  if (v === undefined) return Object.prototype.hasOwnProperty.call(input, name) ? FALLBACK : undefined;
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
    ? v
    : FALLBACK;
}

/**
 * `a & " " & b`: string fields and double-quoted literals joined with `&`. Only when every field is a
 * string (or missing, which `&` reads as ""); numbers and the rest go to JSONata for its formatting.
 */
function concatenation(source: string): FastEvaluator | undefined {
  const parts = source.split('&').map((p) => p.trim());
  if (parts.length < 2) return undefined;
  const ops: ({ literal: string } | { name: string })[] = [];
  for (const p of parts) {
    if (IDENT.test(p)) ops.push({ name: p });
    else if (/^"[^"\\]*"$/.test(p)) ops.push({ literal: p.slice(1, -1) });
    else return undefined;
  }
  return (input) => {
    let out = '';
    for (const op of ops) {
      if ('literal' in op) {
        out += op.literal;
        continue;
      }
      const v = field(input, op.name);
      if (v === undefined) continue;
      if (typeof v !== 'string') return FALLBACK;
      out += v;
    }
    return out;
  };
}

/** An evaluator for `name` or `$fn(name)` with fn in FAST_FUNCTIONS; undefined for anything else. */
function fastPath(source: string): FastEvaluator | undefined {
  if (IDENT.test(source)) return (input) => field(input, source);
  const concat = concatenation(source);
  if (concat) return concat;
  const call = /^(\$[a-z]+)\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(source);
  const fn = call ? FAST_FUNCTIONS[call[1] as string] : undefined;
  if (!call || !fn) return undefined;
  const name = call[2] as string;
  return (input) => {
    const v = field(input, name);
    if (v === FALLBACK) return FALLBACK;
    // JSONata's functions give undefined for an undefined argument, and null is not a string.
    if (v === undefined) return undefined;
    if (v === null) return FALLBACK;
    return fn(v);
  };
}

/** A definition field holding a JSONata expression: validated and compiled at parse time. */
export const JsonataExpression = z
  .string()
  .min(1, 'must be a JSONata expression')
  .transform((source, ctx) => {
    try {
      return compileExpression(source);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  });

/** JSONata's own truthiness ($boolean): empty strings, 0, empty arrays and objects are false. */
export function truthy(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return value.length > 0;
  if (typeof value === 'function') return false;
  if (Array.isArray(value)) return value.some(truthy);
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

const DOTTED_PATH = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

/**
 * A path into a JSON document: a plain dotted path (`data.items`) is walked as is (so a one-element
 * array stays an array, unlike JSONata's sequences); anything else is a JSONata expression.
 */
export interface DocumentPath {
  readonly source: string;
  /** 'path' for a plain dotted path, 'jsonata' for an expression. */
  readonly kind: 'path' | 'jsonata';
  get(doc: unknown): Promise<unknown>;
}

export function compileDocumentPath(source: string): DocumentPath {
  if (DOTTED_PATH.test(source)) {
    const keys = source.split('.');
    return {
      source,
      kind: 'path',
      get: async (doc) => {
        let v: unknown = doc;
        for (const k of keys) {
          if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, k))
            return undefined;
          v = (v as Record<string, unknown>)[k];
        }
        return v;
      },
    };
  }
  const expr = compileExpression(source);
  return { source, kind: 'jsonata', get: (doc) => expr.evaluate(doc) };
}

/** A definition field holding a dotted path or a JSONata expression, compiled at parse time. */
export const DocumentPathField = z
  .string()
  .min(1, 'must be a dotted path or a JSONata expression')
  .transform((source, ctx) => {
    try {
      return compileDocumentPath(source);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  });
