// The OS tools the job sandbox needs (docs/security.md, ADR 0013): bubblewrap, and slirp4netns for
// JOBS_NETWORK=egress. Installed from Debian's packages when missing, as root or with `sudo -n`;
// when that is not possible, says what to install (the runner then refuses to start and says so too).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const TOOLS = [
  { bin: '/usr/bin/bwrap', pkg: 'bubblewrap' },
  { bin: '/usr/bin/slirp4netns', pkg: 'slirp4netns' },
];

/** Installs what is missing; returns the packages still missing afterwards. */
export function ensureSandboxTools(say = (m) => process.stdout.write(`${m}\n`)) {
  if (process.platform !== 'linux') return [];
  const missing = TOOLS.filter((t) => !existsSync(t.bin)).map((t) => t.pkg);
  if (missing.length === 0) return [];
  say(`installing the job sandbox's tools (${missing.join(', ')}) from Debian's packages (apt-get)...`);
  const asRoot = process.getuid?.() === 0;
  const apt = (args) =>
    spawnSync(asRoot ? 'apt-get' : 'sudo', asRoot ? args : ['-n', 'apt-get', ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status === 0;
  const installed =
    apt(['install', '-y', '--no-install-recommends', ...missing]) ||
    (apt(['update']) && apt(['install', '-y', '--no-install-recommends', ...missing]));
  const still = TOOLS.filter((t) => !existsSync(t.bin)).map((t) => t.pkg);
  if (!installed || still.length > 0)
    say(
      `could not install ${still.join(', ')}: install them (apt-get install ${still.join(' ')}), or run jobs without the OS sandbox (JOBS_ISOLATION=none) only where every package is trusted.`,
    );
  return still;
}
