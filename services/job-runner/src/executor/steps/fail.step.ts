import { z } from '@im/contracts';
import { defineStep, JobFailedError } from '../step.registry';

/**
 * `fail`: ends the job (ERROR) with its message, whatever its `onError` says; usually guarded by a
 * `when` (`when: "steps.load.rowsRejected > 0"`). Inside a subprocess it ends the whole job too.
 */
export const failStep = defineStep(
  'fail',
  z.strictObject({
    message: z.string().min(1),
  }),
  async (config) => {
    throw new JobFailedError(config.message);
  },
);
