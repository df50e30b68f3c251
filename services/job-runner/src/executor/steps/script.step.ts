import { z } from '@im/contracts';
import { importDefaultFunction, resolvePackageFile } from '../package-file.resolver';
import { createScriptContext } from '../script.context';
import { defineStep, StepError } from '../step.registry';

/** `script`: runs the default export of a Node script of the package with the job's context. */
export const scriptStep = defineStep(
  'script',
  z.strictObject({
    file: z.string().regex(/\.m?js$/i, 'must name a .js or .mjs file of the package'),
  }),
  async (config, _common, ctx) => {
    const file = await resolvePackageFile(ctx.spec.specDir, config.file);
    const fn = await importDefaultFunction(file);
    if (!fn) throw new StepError(`'${config.file}' has no default export function.`);
    await fn(createScriptContext(ctx.spec, ctx.logger));
  },
);
