#!/usr/bin/env node
import { runCli } from './cli';

// The composition root: the only place that touches the process.
// A reader that goes away (`imctl jobs log … | head`) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
void runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  cwd: process.cwd(),
  pollMs: process.env.IMCTL_POLL_MS ? Number(process.env.IMCTL_POLL_MS) : undefined,
}).then((code) => {
  process.exitCode = code;
});
