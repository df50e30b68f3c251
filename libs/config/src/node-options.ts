/**
 * The Node options every platform process starts with: each service, the standalone platform, each
 * job runner. The launchers (scripts/start.mjs, scripts/dev.mjs, @im/testing's startStandalone and
 * startDistributed, hence bench/) take them from here; docker/Dockerfile's ENTRYPOINT repeats them,
 * and e2e/chart-env.e2e.test.ts checks that it does.
 *
 * - `--disable-sigusr1`: SIGUSR1 no longer opens the inspector. Without it, any process that may
 *   signal the platform (a job's code, in the first place) gets the platform to listen on
 *   127.0.0.1:9229 and can then run code inside it (issue 13). Node 22.14 and later.
 */
export const PLATFORM_NODE_OPTIONS: readonly string[] = ['--disable-sigusr1'];

/**
 * {@link PLATFORM_NODE_OPTIONS}, checked against the Node that runs this code (which launches the
 * platform with its own `process.execPath`): an older Node fails here with what to do, not later
 * with "bad option". `known`: the options this Node knows (tests pass another Node's).
 */
export function platformNodeOptions(
  known: ReadonlySet<string> = process.allowedNodeEnvironmentFlags,
): string[] {
  const missing = PLATFORM_NODE_OPTIONS.filter((o) => !known.has(o));
  if (missing.length > 0)
    throw new Error(
      `Node ${process.version} has no ${missing.join(', ')}: the platform runs on Node 24 ` +
        '(`npm start` and `npm test` fetch it; in a shell: e=$(node scripts/runtime.mjs env) && eval "$e").',
    );
  return [...PLATFORM_NODE_OPTIONS];
}
