import { LogLevel, z } from '@im/contracts';
import { defineStep } from '../step.registry';

/** `log`: writes its message to the job log. */
export const logStep = defineStep(
  'log',
  z.strictObject({
    message: z.string(),
    level: LogLevel.default('INFO'),
  }),
  async (config, _common, ctx) => {
    switch (config.level) {
      case 'SEVERE':
        ctx.logger.severe(config.message);
        return;
      case 'WARNING':
        ctx.logger.warn(config.message);
        return;
      case 'INFO':
        ctx.logger.info(config.message);
        return;
      case 'DEBUG':
        ctx.logger.debug(config.message);
        return;
    }
  },
);
