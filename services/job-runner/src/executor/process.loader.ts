import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { resolvePackageFile } from './package-file.resolver';
import { DefinitionError, parseProcessDefinition, type ProcessDefinition } from './process-definition.parser';
import { StepError, type StepRegistry } from './step.registry';

/**
 * The process files of a job: the entry point and every process its `subprocess` steps run,
 * transitively, parsed and validated before any step runs, then kept for the run. Each file is
 * parsed once, however often it is run.
 */
export class ProcessLibrary {
  private readonly byFile = new Map<string, ProcessDefinition>();
  private realSpecDir: string | undefined;

  constructor(
    private readonly specDir: string,
    private readonly macros: ReadonlyMap<string, string>,
    private readonly registry: StepRegistry,
  ) {}

  /** `sub/flow.process`: a real path of the package, relative to it, as messages name it. */
  private async labelOf(real: string): Promise<string> {
    this.realSpecDir ??= await fs.realpath(this.specDir);
    return path.relative(this.realSpecDir, real).split(path.sep).join('/');
  }

  private async parse(file: string, label: string): Promise<ProcessDefinition> {
    const def = parseProcessDefinition(await fs.readFile(file, 'utf8'), label, this.macros, this.registry);
    this.byFile.set(file, def);
    return def;
  }

  /**
   * Loads the entry point (an absolute path inside the package) and what it includes. Throws a
   * {@link DefinitionError} naming the file, the step and the field of each problem.
   */
  async loadEntryPoint(file: string): Promise<ProcessDefinition> {
    const real = await fs.realpath(file);
    const root = await this.parse(real, await this.labelOf(real));
    const queue = [root];
    for (let def = queue.shift(); def; def = queue.shift()) {
      for (const [i, step] of def.steps.entries()) {
        const by = `step ${i + 1} '${step.name}'`;
        for (const include of step.includes) {
          let real: string;
          try {
            real = await resolvePackageFile(this.specDir, include);
          } catch (err) {
            if (!(err instanceof StepError)) throw err;
            throw new DefinitionError(`Invalid process definition ${def.label}:`, [
              `${by} field 'file': ${err.message}`,
            ]);
          }
          if (this.byFile.has(real)) continue;
          try {
            queue.push(await this.parse(real, await this.labelOf(real)));
          } catch (err) {
            if (!(err instanceof DefinitionError)) throw err;
            throw new DefinitionError(
              `${err.title.replace(/:$/, '')} (run by ${by} of ${def.label}):`,
              err.problems,
            );
          }
        }
      }
    }
    return root;
  }

  /** A process file of the package (relative path), validated; loaded now if it was not up front. */
  async get(file: string): Promise<ProcessDefinition> {
    const real = await resolvePackageFile(this.specDir, file);
    return this.byFile.get(real) ?? this.parse(real, await this.labelOf(real));
  }
}
