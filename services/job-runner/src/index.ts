export {
  createApp,
  createJobRunnerModule,
  type JobRunnerAppDeps,
  type JobRunnerModule,
  type JobRunnerModuleDeps,
} from './app';
export { JobRunner, defaultExecutorPath, type JobRunnerDeps } from './runner';
export { outcomeOf, type FailureCause, type JobResult, type TerminalOutcome } from './failure-cause';
export { DEFAULT_UNPACK_LIMITS, type UnpackLimits } from './package.unpacker';
export { loadConfig, type JobRunnerConfig } from './config';
export { isolationEnv, isolationFromEnv, type IsolationConfig } from './sandbox/isolation.config';
