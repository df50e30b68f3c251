import { z } from '@im/contracts';
import YAML from 'yaml';
import { describeLocation, stepLabel, substituteMacros } from './macro.substitution';
import type { RunnableStep, StepRegistry } from './step.registry';

/** A process definition that cannot run; every problem found, one per line, before any step ran. */
export class DefinitionError extends Error {
  override name = 'DefinitionError';
  constructor(
    readonly title: string,
    readonly problems: readonly string[],
  ) {
    super(`${title}\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

export interface ProcessDefinition {
  /** The file, relative to the package (`main.process`), as messages name it. */
  label: string;
  name: string | undefined;
  steps: RunnableStep[];
}

const Document = z.strictObject({
  name: z.string().optional(),
  description: z.string().optional(),
  steps: z.array(z.record(z.string(), z.unknown())).min(1, 'a process needs at least one step'),
});

function describeIssue(doc: unknown, base: readonly PropertyKey[], issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${describeLocation(doc, [...base, ...issue.path, k])}: unknown field`);
  }
  return [`${describeLocation(doc, [...base, ...issue.path])}: ${issue.message}`];
}

/**
 * Parses a `.process` file (YAML, or JSON, which YAML reads too), substitutes `$(NAME)` macros in
 * every string value, then validates the document and each step against its type's schema. Throws a
 * {@link DefinitionError} that names the step and field of each problem.
 */
export function parseProcessDefinition(
  text: string,
  label: string,
  macros: ReadonlyMap<string, string>,
  registry: StepRegistry,
): ProcessDefinition {
  const parsed = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (parsed.errors.length > 0) {
    throw new DefinitionError(
      `${label} is not valid YAML or JSON:`,
      parsed.errors.map((e) => e.message.split('\n')[0] ?? e.message),
    );
  }
  const raw: unknown = parsed.toJS({ maxAliasCount: 100 });

  const { value: doc, unresolved } = substituteMacros(raw, macros);
  if (unresolved.length > 0) {
    throw new DefinitionError(
      `${label} uses macros that have no value (define them in the configuration's runtimeConfig.macros or the run request):`,
      unresolved.map((u) => `Unresolved macro $(${u.name}) in ${describeLocation(raw, u.path)}`),
    );
  }

  const top = Document.safeParse(doc);
  if (!top.success) {
    throw new DefinitionError(
      `Invalid process definition ${label}:`,
      top.error.issues.flatMap((i) => describeIssue(doc, [], i)),
    );
  }

  const problems: string[] = [];
  const steps: RunnableStep[] = [];
  const known = Object.keys(registry).sort().join(', ');
  const seen = new Set<string>();
  top.data.steps.forEach((rawStep, i) => {
    const where = stepLabel(doc, i);
    const type = rawStep.type;
    if (typeof type !== 'string') {
      problems.push(`${where} field 'type': required, one of: ${known}`);
      return;
    }
    const handler = Object.hasOwn(registry, type) ? registry[type] : undefined;
    if (!handler) {
      problems.push(`${where} field 'type': unknown step type '${type}' (known types: ${known})`);
      return;
    }
    const result = handler.parse(rawStep);
    if (!result.ok) {
      problems.push(...result.issues.flatMap((issue) => describeIssue(doc, ['steps', i], issue)));
      return;
    }
    if (seen.has(result.step.name)) problems.push(`${where} field 'name': another step has the same name`);
    seen.add(result.step.name);
    steps.push(result.step);
  });
  if (problems.length > 0) throw new DefinitionError(`Invalid process definition ${label}:`, problems);
  return { label, name: top.data.name, steps };
}
