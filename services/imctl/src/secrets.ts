import type { CliIo } from './io';

/** Reads all of stdin (`--password-stdin`), without the trailing newline. */
export async function readStdin(stdin: CliIo['stdin']): Promise<string> {
  let s = '';
  stdin.setEncoding('utf8');
  for await (const chunk of stdin) s += chunk as string;
  return s.replace(/\r?\n$/, '');
}

/** Asks on the terminal without echoing what is typed (raw mode; Ctrl-C aborts). */
export function promptHidden(io: CliIo, question: string): Promise<string> {
  const { stdin, stderr } = io;
  return new Promise((resolve, reject) => {
    let value = '';
    // Echo off before the question shows, so nothing typed after it is echoed.
    stdin.setRawMode?.(true);
    stderr.write(question);
    stdin.setEncoding('utf8');
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      stderr.write('\n');
    };
    const onData = (data: string) => {
      for (const ch of data) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          finish();
          reject(new Error('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}
