import type { Readable } from 'node:stream';

/** A stream imctl writes to; `isTTY` and `columns` as on a terminal's stream. */
export interface OutStream {
  write(s: string | Uint8Array): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Everything imctl touches of its process, so tests run it in-process. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: OutStream;
  stderr: OutStream;
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  /** The working directory, for relative paths. */
  cwd: string;
  fetch?: typeof fetch;
  now?: () => number;
  /** How long `run --wait` waits between two looks at the job (default 1000 ms). */
  pollMs?: number;
}
