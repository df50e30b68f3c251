/** `$(NAME)`: NAME as a macro key allows (see MacroKey in @im/contracts). */
const MACRO = /\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g;

export type DocPath = (string | number)[];

export interface UnresolvedMacro {
  name: string;
  /** Where in the document, e.g. `['steps', 0, 'message']`. */
  path: DocPath;
}

/**
 * Replaces `$(NAME)` in every string value of a parsed document (keys are left alone). Returns a
 * new document and every macro it could not resolve, with where it was.
 */
export function substituteMacros(
  doc: unknown,
  macros: ReadonlyMap<string, string>,
): { value: unknown; unresolved: UnresolvedMacro[] } {
  const unresolved: UnresolvedMacro[] = [];
  const walk = (v: unknown, path: DocPath): unknown => {
    if (typeof v === 'string') {
      return v.replace(MACRO, (whole, name: string) => {
        const value = macros.get(name);
        if (value === undefined) {
          unresolved.push({ name, path });
          return whole;
        }
        return value;
      });
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, [...path, k]);
      return out;
    }
    return v;
  };
  return { value: walk(doc, []), unresolved };
}

/** `step 1 'greet' field 'message'`, `step 2 field 'source.path'`, `field 'name'`. */
export function describeLocation(doc: unknown, path: readonly PropertyKey[]): string {
  const [first, index, ...rest] = path;
  if (first === 'steps' && typeof index === 'number') {
    const field = formatPath(rest);
    return `${stepLabel(doc, index)}${field ? ` field '${field}'` : ''}`;
  }
  const field = formatPath(path);
  return field ? `field '${field}'` : 'the document';
}

/** `step 2 'greet'`: its position (1-based) and, when it has a usable one, its name. */
export function stepLabel(doc: unknown, index: number): string {
  const steps = doc !== null && typeof doc === 'object' ? (doc as { steps?: unknown }).steps : undefined;
  const step: unknown = Array.isArray(steps) ? steps[index] : undefined;
  const name = step !== null && typeof step === 'object' ? (step as { name?: unknown }).name : undefined;
  return typeof name === 'string' && name !== '' ? `step ${index + 1} '${name}'` : `step ${index + 1}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    '',
  );
}
