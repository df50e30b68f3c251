import { createStepRegistry } from '../step.registry';
import { failStep } from './fail.step';
import { httpStep } from './http.step';
import { logStep } from './log.step';
import { scriptStep } from './script.step';
import { sqlStep } from './sql.step';
import { subprocessStep } from './subprocess.step';
import { transformStep } from './transform.step';

/** Every step type the executor knows. */
export const BUILTIN_STEPS = createStepRegistry([
  logStep,
  scriptStep,
  transformStep,
  sqlStep,
  httpStep,
  failStep,
  subprocessStep,
]);
