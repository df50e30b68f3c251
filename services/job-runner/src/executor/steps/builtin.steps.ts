import { createStepRegistry } from '../step.registry';
import { logStep } from './log.step';
import { scriptStep } from './script.step';

/** Every step type the executor knows. The full engine adds transform, sql and http here. */
export const BUILTIN_STEPS = createStepRegistry([logStep, scriptStep]);
