/**
 * The defences the attack suite can switch off, to show that each attack succeeds without its
 * defence: `IM_ATTACKS_DEFENCES_OFF=isolation,network npx jest --selectProjects=e2e -- e2e/attacks`.
 * Each name maps to the platform settings that remove it; the suite then prints
 * `outcome=SUCCEEDED` for the attacks that defence stopped, and fails.
 */
export const DEFENCES = {
  /** The OS sandbox around every job: bubblewrap, its own uid, PID/IPC/mount namespaces, cgroup limits. */
  isolation: { JOBS_ISOLATION: 'none' },
  /** Node's permission model inside the executor (file system, child processes, workers, addons). */
  permissions: { JOBS_SANDBOX: 'false' },
  /** The job's network namespace (slirp4netns without a route to the host's loopback). */
  network: { JOBS_NETWORK: 'host' },
  /** Memory, process and disk limits: far above what the bombs take. */
  limits: { JOBS_MEMORY_MB: '8192', JOBS_MAX_PROCESSES: '100000', JOBS_DISK_MB: '1000000' },
  /** X-Forwarded-For trusted only from configured proxies: trust any loopback client again. */
  'trusted-proxies': { GATEWAY_TRUST_PROXY: 'loopback' },
} as const satisfies Record<string, Record<string, string>>;

export type DefenceName = keyof typeof DEFENCES;

/** Limits of the platforms under attack: small, so that the bombs stay small and fast. */
export const TEST_LIMITS = { memoryMb: 128, diskMb: 64, maxProcesses: 32 } as const;

/** The settings of the test platforms: the small limits, then every defence named in `off` removed. */
export function platformSettings(off: string | undefined): {
  env: Record<string, string>;
  off: DefenceName[];
} {
  const names = (off ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(n in DEFENCES));
  if (unknown.length > 0)
    throw new Error(
      `IM_ATTACKS_DEFENCES_OFF names unknown defences: ${unknown.join(', ')} (known: ${Object.keys(DEFENCES).join(', ')})`,
    );
  const env: Record<string, string> = {
    JOBS_MEMORY_MB: String(TEST_LIMITS.memoryMb),
    JOBS_DISK_MB: String(TEST_LIMITS.diskMb),
    JOBS_MAX_PROCESSES: String(TEST_LIMITS.maxProcesses),
  };
  for (const n of names as DefenceName[]) Object.assign(env, DEFENCES[n]);
  return { env, off: names as DefenceName[] };
}
