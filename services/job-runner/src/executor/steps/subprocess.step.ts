import { z } from '@im/contracts';
import { defineStep } from '../step.registry';

/**
 * `subprocess`: runs another `.process` file of the package, with the same macros, as part of this
 * step. Its steps log as `<this step>/<their name>`; it fails when one of them fails (unless that one
 * has `onError: continue`). Nesting deeper than 8 ends the job. The file is validated with the entry
 * point, before any step runs.
 */
export const subprocessStep = defineStep(
  'subprocess',
  z.strictObject({
    file: z.string().regex(/\.process$/i, 'must name a .process file of the package'),
  }),
  async (config, _common, ctx) => ctx.services.runSubprocess(config.file, ctx),
  { includes: (config) => [config.file] },
);
