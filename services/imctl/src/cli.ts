import {
  ImClient,
  ProblemError,
  type Download,
  type FileResource,
  type Job,
  type JobOutputFile,
  type JobConfig,
  type JobConfigPatch,
  type JobStatus,
  type ListPage,
  type Tokens,
  type User,
} from '@im/client';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { completionScript } from './completion';
import { ConfigStore, configPath, type CliConfig } from './config.store';
import { EXIT } from './exit-codes';
import type { CliIo } from './io';
import { formatBytes, progressReporter } from './progress';
import { formatJson, formatObject, formatTable, type Column, type OutputFormat } from './output';
import { promptHidden, readStdin } from './secrets';

const VERSION = '0.1.0';
const TERMINAL: readonly JobStatus[] = ['FINISHED', 'ERROR', 'FAILED', 'CANCELLED'];

/** An error imctl reports as one line and an exit code (no stack). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
  ) {
    super(message);
  }
}

interface GlobalOptions {
  output?: OutputFormat;
  url?: string;
}

const configColumns: Column<JobConfig>[] = [
  { header: 'ID', value: (c) => c.id },
  { header: 'NAME', value: (c) => c.name },
  { header: 'ACTIVE', value: (c) => c.active },
  { header: 'PACKAGE', value: (c) => c.runtimeConfig.packageName },
  { header: 'ENTRY POINT', value: (c) => c.runtimeConfig.entryPoint },
  { header: 'LAST MODIFIED', value: (c) => c.lastModified },
];
const jobColumns: Column<Job>[] = [
  { header: 'ID', value: (j) => j.id },
  { header: 'STATUS', value: (j) => j.status },
  { header: 'CONFIG', value: (j) => `${j.jobConfig.id} ${j.jobConfig.name}` },
  { header: 'SCHEDULED', value: (j) => j.scheduled },
  { header: 'DURATION', value: (j) => (j.duration === null ? null : `${(j.duration / 1000).toFixed(1)}s`) },
  { header: 'RC', value: (j) => j.returnCode },
];
const fileColumns: Column<FileResource>[] = [
  { header: 'NAME', value: (f) => f.name },
  { header: 'SIZE', value: (f) => f.metadata.size },
  { header: 'TYPE', value: (f) => f.metadata.contentType },
  { header: 'LAST MODIFIED', value: (f) => f.metadata.lastModified },
  { header: 'SHA256', value: (f) => f.metadata.sha256.slice(0, 12) },
];
const outputColumns: Column<JobOutputFile>[] = [
  { header: 'NAME', value: (f) => f.name },
  { header: 'SIZE', value: (f) => f.metadata.size },
  { header: 'LAST MODIFIED', value: (f) => f.metadata.lastModified },
];
const userColumns: Column<User>[] = [
  { header: 'ID', value: (u) => u.id },
  { header: 'NAME', value: (u) => u.name },
  { header: 'ROLES', value: (u) => u.roles },
  { header: 'ACTIVE', value: (u) => u.active },
  { header: 'EMAIL', value: (u) => u.email },
  { header: 'FULL NAME', value: (u) => u.fullName },
];

const int = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number.`);
  return Number(v);
};
const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Builds the program; `run` parses argv and answers the exit code. */
export function createProgram(io: CliIo): { program: Command; exitCode: () => number } {
  let exitCode: number = EXIT.OK;
  const store = new ConfigStore(configPath(io.env));
  const out = (s: string): void => void io.stdout.write(s);
  const err = (s: string): void => void io.stderr.write(s);
  const pollMs = io.pollMs ?? 1000;

  const program = new Command('imctl')
    .description('The command line of the integration-manager platform (docs/cli.md).')
    .version(VERSION)
    .addOption(
      new Option('-o, --output <format>', 'output format (default: table)').choices(['json', 'table']),
    )
    .option(
      '--url <url>',
      'the platform, e.g. http://localhost:8080 (default: the one logged in to, or IMCTL_URL)',
    )
    .showHelpAfterError('(imctl --help lists the commands)')
    .addHelpText(
      'after',
      `
Exit codes: 0 done (run --wait/--follow: FINISHED), 1 the job ended ERROR, 2 it ended FAILED or
CANCELLED, 3 the platform refused the request, 4 not logged in / session expired, 5 platform
unreachable, 64 wrong usage, 70 unexpected failure.
Config: $XDG_CONFIG_HOME/imctl/config.json (else ~/.config/imctl/config.json). Docs: docs/cli.md`,
    )
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err });

  const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();
  const format = (cmd: Command): OutputFormat => globals(cmd).output ?? 'table';

  const print = (cmd: Command, v: object): void =>
    void out(format(cmd) === 'json' ? formatJson(v) : formatObject(v));
  const printList = <T>(cmd: Command, page: ListPage<T>, columns: Column<T>[]) => {
    if (format(cmd) === 'json') out(formatJson(page));
    else {
      out(formatTable(page.items, columns));
      if (page.totalPages > 1)
        err(
          `page ${page.pageNumber + 1} of ${page.totalPages} (${page.totalRecords} in all): --page <n> (from 0) for the others\n`,
        );
    }
  };
  const done = (_cmd: Command, message: string) => err(`${message}\n`);

  /** A client on the stored session; its refreshed tokens are written back to the config file. */
  const client = (cmd: Command): ImClient => {
    const config = store.read();
    if (!config)
      throw new CliError(
        'not logged in',
        EXIT.NOT_LOGGED_IN,
        'run `imctl login --url <url> --username <name>`',
      );
    const url = globals(cmd).url ?? io.env.IMCTL_URL ?? config.url;
    return new ImClient({
      baseUrl: url,
      fetch: io.fetch,
      now: io.now,
      tokens: {
        accessToken: config.accessToken,
        refreshToken: config.refreshToken,
        expiresAt: Date.parse(config.expiresAt) || 0,
      },
      onTokens: (t) => {
        if (t) store.write(toConfig(config.url, config.username, t));
      },
      // Other imctl processes share the session: one refreshes at a time, the others take its result.
      refreshLock: (critical) => store.withLock(critical),
      reloadTokens: () => {
        const c = safeRead(store);
        return c
          ? {
              accessToken: c.accessToken,
              refreshToken: c.refreshToken,
              expiresAt: Date.parse(c.expiresAt) || 0,
            }
          : undefined;
      },
    });
  };
  const listParams = (o: { page?: number; size?: number; sort?: string; direction?: string }) => ({
    offset: o.page,
    size: o.size,
    sortby: o.sort,
    direction: o.direction,
  });
  const withPaging = (c: Command) =>
    c
      .option('--page <n>', 'page number, from 0', int('--page'))
      .option('--size <n>', 'items per page (max 500)', int('--size'))
      .option('--sort <fields>', 'comma list of fields to sort by')
      .option('--direction <dirs>', 'asc or desc per sort field');

  // ---- session -----------------------------------------------------------------------------------

  program
    .command('login')
    .description(
      'log in and keep the session in the config file (password: --password-stdin, IMCTL_PASSWORD or a prompt)',
    )
    .option('--username <name>', 'user name (default: IMCTL_USERNAME, or the one logged in before)')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (o: { username?: string; passwordStdin?: boolean }, cmd: Command) => {
      const previous = safeRead(store);
      const url = globals(cmd).url ?? io.env.IMCTL_URL ?? previous?.url;
      if (!url)
        throw new CliError('no platform given', EXIT.USAGE, 'pass --url http://host:8080 (or set IMCTL_URL)');
      const username = o.username ?? io.env.IMCTL_USERNAME ?? previous?.username;
      if (!username) throw new CliError('no user name given', EXIT.USAGE, 'pass --username <name>');
      const password = await readPassword(
        io,
        o.passwordStdin === true,
        'IMCTL_PASSWORD',
        `Password for ${username}: `,
      );
      const c = new ImClient({ baseUrl: url, fetch: io.fetch, now: io.now });
      const t = await c.login(username, password);
      store.write(toConfig(c.baseUrl, username, t));
      err(`Logged in to ${c.baseUrl} as ${username} (session kept in ${store.file}).\n`);
    });

  program
    .command('logout')
    .description('revoke the session on the platform and forget it')
    .action(async (_o: object, cmd: Command) => {
      if (!safeRead(store)) {
        err('Not logged in.\n');
        return;
      }
      try {
        await client(cmd).logout();
      } finally {
        store.remove();
      }
      err('Logged out.\n');
    });

  program
    .command('whoami')
    .description('the user logged in')
    .action(async (_o: object, cmd: Command) => print(cmd, await client(cmd).users.me()));

  program
    .command('info')
    .description("the platform's product information (no login needed)")
    .action(async (_o: object, cmd: Command) => {
      const url = globals(cmd).url ?? io.env.IMCTL_URL ?? safeRead(store)?.url;
      if (!url) throw new CliError('no platform given', EXIT.USAGE, 'pass --url http://host:8080');
      print(cmd, await new ImClient({ baseUrl: url, fetch: io.fetch }).productInfo());
    });

  // ---- job configurations ------------------------------------------------------------------------

  const jc = program.command('jobconfigs').alias('jc').description('job configurations');
  withPaging(jc.command('list').description('list configurations')).action(
    async (o: Parameters<typeof listParams>[0], cmd: Command) =>
      printList(cmd, await client(cmd).jobConfigs.list(listParams(o)), configColumns),
  );
  jc.command('get <id>')
    .description('show a configuration')
    .action(async (id: string, _o: object, cmd: Command) => print(cmd, await client(cmd).jobConfigs.get(id)));

  const configFields = (c: Command) =>
    c
      .option('--name <name>', 'name')
      .option('--description <text>', 'description')
      .option('--active', 'active (runs)')
      .option('--inactive', 'inactive (refuses to run)')
      .option('--package <file>', 'runtimeConfig.packageName: an attached file')
      .option('--entry-point <name>', 'runtimeConfig.entryPoint, e.g. integrateXYZ.process')
      .option('--log-level <level>', 'runtimeConfig.logLevel: SEVERE, WARNING, INFO or DEBUG')
      .option('--timeout <minutes>', 'minutes before the job is stopped (0: none)', int('--timeout'))
      .option('--blocking', 'jobs wait for the unfinished one before them')
      .option('--no-blocking', 'jobs run side by side')
      .option('--tag <tag>', 'a tag (repeat for several)', collect)
      .option(
        '-f, --file <json>',
        'the fields from a JSON file (- for stdin); the options above override it',
      );
  interface ConfigFieldOptions {
    name?: string;
    description?: string;
    active?: boolean;
    inactive?: boolean;
    package?: string;
    entryPoint?: string;
    logLevel?: string;
    timeout?: number;
    blocking?: boolean;
    tag?: string[];
    file?: string;
  }
  const configBody = async (o: ConfigFieldOptions): Promise<JobConfigPatch> => {
    const base = o.file
      ? (JSON.parse(o.file === '-' ? await readStdin(io.stdin) : readFile(io, o.file)) as JobConfigPatch)
      : {};
    const body: JobConfigPatch = { ...base };
    if (o.name !== undefined) body.name = o.name;
    if (o.description !== undefined) body.description = o.description;
    if (o.active && o.inactive) throw new CliError('--active and --inactive exclude each other', EXIT.USAGE);
    if (o.active) body.active = true;
    if (o.inactive) body.active = false;
    if (o.timeout !== undefined) body.timeout = o.timeout;
    if (o.blocking !== undefined) body.blocking = o.blocking;
    if (o.tag) body.tags = o.tag;
    if (o.package !== undefined || o.entryPoint !== undefined || o.logLevel !== undefined) {
      body.runtimeConfig = { ...(base.runtimeConfig ?? {}) };
      if (o.package !== undefined) body.runtimeConfig.packageName = o.package;
      if (o.entryPoint !== undefined) body.runtimeConfig.entryPoint = o.entryPoint;
      if (o.logLevel !== undefined) body.runtimeConfig.logLevel = o.logLevel.toUpperCase() as 'INFO';
    }
    return body;
  };
  configFields(
    jc.command('create').description('create a configuration (needs --name or a file with name)'),
  ).action(async (o: ConfigFieldOptions, cmd: Command) => {
    const body = await configBody(o);
    if (body.name === undefined)
      throw new CliError('a configuration needs a name', EXIT.USAGE, 'pass --name <name>');
    print(cmd, await client(cmd).jobConfigs.create({ active: true, ...body, name: body.name }));
  });
  configFields(
    jc
      .command('update <id>')
      .description('change the fields given (PATCH: the others, and other runtimeConfig fields, are kept)'),
  ).action(async (id: string, o: ConfigFieldOptions, cmd: Command) => {
    print(cmd, await client(cmd).jobConfigs.update(id, await configBody(o)));
  });
  jc.command('delete <id>')
    .description('delete a configuration with its files and schedule')
    .action(async (id: string, _o: object, cmd: Command) => {
      await client(cmd).jobConfigs.delete(id);
      done(cmd, `Deleted configuration ${id}.`);
    });
  jc.command('entrypoints <id> [file]')
    .description('entry points of the selected package, or of an attached file')
    .action(async (id: string, file: string | undefined, _o: object, cmd: Command) => {
      const e = await client(cmd).jobConfigs.entryPoints(id, file);
      if (format(cmd) === 'json') out(formatJson(e));
      else out(e.entryPoints.map((x) => `${x}\n`).join(''));
    });

  // ---- files -------------------------------------------------------------------------------------

  /** Writes a download to ./<key>, to `out`, or to stdout (`-`), with progress on stderr. */
  const save = async (d: Download, key: string, out: string | undefined) => {
    const body = Readable.fromWeb(d.body as Parameters<typeof Readable.fromWeb>[0]);
    const progress = progressReporter(`download ${key}`, io.stderr);
    let received = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        progress.update(received, d.size);
        cb(null, chunk);
      },
    });
    progress.update(0, d.size);
    if (out === '-') {
      await pipeline(body, counted, writableOf(io.stdout));
      progress.done();
      return;
    }
    const target = path.resolve(io.cwd, out ?? key);
    await pipeline(body, counted, fs.createWriteStream(target));
    progress.done();
    err(`Downloaded ${key} (${formatBytes(fs.statSync(target).size)}) to ${target}.\n`);
  };

  const files = program.command('files').description("a configuration's files");
  files
    .command('upload <configId> <path>')
    .description('upload a file (created or replaced), with progress on stderr')
    .option('--key <name>', 'the file name on the platform (default: the base name of <path>)')
    .option('--content-type <type>', 'media type', 'application/octet-stream')
    .action(
      async (configId: string, file: string, o: { key?: string; contentType: string }, cmd: Command) => {
        const abs = path.resolve(io.cwd, file);
        let size: number;
        try {
          size = fs.statSync(abs).size;
        } catch (e) {
          throw new CliError(`cannot read ${file}: ${(e as Error).message}`, EXIT.USAGE);
        }
        const key = o.key ?? path.basename(abs);
        const c = client(cmd);
        const progress = progressReporter(`upload ${key}`, io.stderr);
        const r = await c.files.upload(configId, key, fs.createReadStream(abs), {
          size,
          contentType: o.contentType,
          onProgress: (sent, total) => progress.update(sent, total),
        });
        progress.done();
        print(cmd, r);
      },
    );
  withPaging(files.command('list <configId>').description('list the files')).action(
    async (configId: string, o: Parameters<typeof listParams>[0], cmd: Command) =>
      printList(cmd, await client(cmd).files.list(configId, listParams(o)), fileColumns),
  );
  files
    .command('download <configId> <key>')
    .description('download a file (streamed), with progress on stderr')
    .option('-O, --out <path>', 'where to write it (- for stdout; default: ./<key>)')
    .action(async (configId: string, key: string, o: { out?: string }, cmd: Command) =>
      save(await client(cmd).files.download(configId, key), key, o.out),
    );
  files
    .command('delete <configId> <key>')
    .description('delete a file')
    .action(async (configId: string, key: string, _o: object, cmd: Command) => {
      await client(cmd).files.delete(configId, key);
      done(cmd, `Deleted ${key} of configuration ${configId}.`);
    });

  // ---- run and jobs ------------------------------------------------------------------------------

  /** Waits for the job to end, telling each status change on stderr; answers the ended job. */
  const waitForEnd = async (c: ImClient, job: Job, quiet: boolean): Promise<Job> => {
    let last = job.status;
    if (!quiet) err(`job ${job.id}: ${last}\n`);
    let current = job;
    while (!TERMINAL.includes(current.status)) {
      await new Promise((r) => setTimeout(r, pollMs));
      current = await c.jobs.get(job.id);
      if (current.status !== last && !quiet) err(`job ${job.id}: ${current.status}\n`);
      last = current.status;
    }
    return current;
  };
  const endedCode = (status: JobStatus): number => {
    switch (status) {
      case 'FINISHED':
        return EXIT.OK;
      case 'ERROR':
        return EXIT.JOB_ERROR;
      case 'FAILED':
      case 'CANCELLED':
        return EXIT.JOB_FAILED;
      case 'SEQUENCED':
      case 'QUEUED':
      case 'INITIALIZING':
      case 'RUNNING':
        return EXIT.INTERNAL;
    }
  };
  /**
   * Streams the log until the job ends; answers the ended job. A stream that ends or drops while the
   * job still runs (a proxy's timeout, the server's one-hour cap) is opened again, and what was
   * printed already is skipped (the log only grows).
   */
  const followLog = async (c: ImClient, id: string): Promise<Job> => {
    let printed = 0;
    const print = async (follow: boolean) => {
      let seen = 0;
      for await (const chunk of await c.jobs.log(id, { follow })) {
        const fresh = chunk.slice(Math.max(0, printed - seen));
        seen += chunk.length;
        if (fresh) {
          out(fresh);
          printed += fresh.length;
        }
      }
    };
    for (;;) {
      let dropped = false;
      try {
        await print(true);
      } catch (e) {
        if (e instanceof ProblemError) throw e;
        dropped = true;
      }
      const job = await c.jobs.get(id);
      if (TERMINAL.includes(job.status)) {
        if (dropped) await print(false); // the tail written after the connection dropped
        return job;
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };
  const summary = (j: Job) =>
    `job ${j.id} ${j.status}${j.reason ? ` (${j.reason})` : ''}${j.returnCode === null ? '' : `, return code ${j.returnCode}`}${j.duration === null ? '' : `, ${(j.duration / 1000).toFixed(1)} s`}\n`;

  program
    .command('run <configId>')
    .description('run a configuration: prints the job; --wait waits for its end, --follow streams its log')
    .option('--wait', 'wait until the job ends; the exit code tells how it ended')
    .option('--follow', 'stream the log until the job ends, then print its status (implies --wait)')
    .option('--log-level <level>', 'log level of this run: SEVERE, WARNING, INFO or DEBUG')
    .option('--macro <KEY=VALUE>', 'a macro value for this run (repeat for several)', collect)
    .option('--tag <tag>', 'a tag of this job (repeat for several)', collect)
    .action(
      async (
        configId: string,
        o: { wait?: boolean; follow?: boolean; logLevel?: string; macro?: string[]; tag?: string[] },
        cmd: Command,
      ) => {
        const c = client(cmd);
        const macros = (o.macro ?? []).map((m) => {
          const i = m.indexOf('=');
          if (i <= 0) throw new CliError(`--macro ${m}: expected KEY=VALUE`, EXIT.USAGE);
          return { key: m.slice(0, i), value: m.slice(i + 1) };
        });
        const job = await c.jobs.run(configId, {
          ...(macros.length || o.logLevel
            ? {
                runtimeConfig: {
                  ...(macros.length ? { macros } : {}),
                  ...(o.logLevel ? { logLevel: o.logLevel.toUpperCase() as 'INFO' } : {}),
                },
              }
            : {}),
          ...(o.tag ? { tags: o.tag } : {}),
        });
        if (o.follow) {
          err(`job ${job.id}: ${job.status}\n`);
          const ended = await followLog(c, job.id);
          if (format(cmd) === 'json') out(formatJson(ended));
          err(summary(ended));
          exitCode = endedCode(ended.status);
          return;
        }
        if (o.wait) {
          const ended = await waitForEnd(c, job, false);
          print(cmd, ended);
          exitCode = endedCode(ended.status);
          return;
        }
        print(cmd, job);
      },
    );

  const jobs = program.command('jobs').description('jobs');
  withPaging(
    jobs
      .command('list')
      .description('list jobs, newest first')
      .option('--config <id>', "only this configuration's jobs")
      .option('--status <list>', 'only these statuses (comma list)'),
  ).action(async (o: Parameters<typeof listParams>[0] & { config?: string; status?: string }, cmd: Command) =>
    printList(
      cmd,
      await client(cmd).jobs.list({
        ...listParams(o),
        jobconfigid: o.config,
        status: o.status?.toUpperCase().split(',') as JobStatus[] | undefined,
      }),
      jobColumns,
    ),
  );
  jobs
    .command('get <id>')
    .description('show a job')
    .action(async (id: string, _o: object, cmd: Command) => print(cmd, await client(cmd).jobs.get(id)));
  jobs
    .command('cancel <id>')
    .description('cancel a waiting job or stop a running one')
    .action(async (id: string, _o: object, cmd: Command) => {
      const j = await client(cmd).jobs.cancel(id);
      if (j.status === 'CANCELLED') done(cmd, `Cancelled job ${id}.`);
      else if (TERMINAL.includes(j.status))
        done(cmd, `Job ${id} had ended already (${j.status}): nothing to cancel.`);
      else done(cmd, `Asked job ${id} to stop (${j.status}); \`imctl jobs get ${id}\` shows when it has.`);
      print(cmd, j);
    });
  jobs
    .command('log <id>')
    .description("print a job's log")
    .option('--follow', 'keep streaming until the job ends')
    .action(async (id: string, o: { follow?: boolean }, cmd: Command) => {
      const c = client(cmd);
      if (o.follow) await followLog(c, id);
      else for await (const chunk of await c.jobs.log(id)) out(chunk);
    });

  jobs
    .command('output <id> [file]')
    .description('list the files the job wrote to its output directory, or download one')
    .option('-O, --out <path>', 'where to write the file (- for stdout; default: ./<file>)')
    .action(async (id: string, file: string | undefined, o: { out?: string }, cmd: Command) => {
      const c = client(cmd);
      if (file !== undefined) return save(await c.jobs.downloadOutput(id, file), file, o.out);
      printList(cmd, await c.jobs.outputFiles(id), outputColumns);
    });

  // ---- users (administrators) --------------------------------------------------------------------

  const users = program.command('users').description("users of the administrator's account");
  withPaging(users.command('list').description('list users')).action(
    async (o: Parameters<typeof listParams>[0], cmd: Command) =>
      printList(cmd, await client(cmd).users.list(listParams(o)), userColumns),
  );
  users
    .command('get <id>')
    .description('show a user')
    .action(async (id: string, _o: object, cmd: Command) => print(cmd, await client(cmd).users.get(id)));
  users
    .command('create <name>')
    .description('create a user (password: --password-stdin, IMCTL_NEW_PASSWORD or a prompt)')
    .option('--email <email>', 'e-mail address')
    .option('--full-name <name>', 'full name')
    .option('--admin', 'an administrator')
    .option('--inactive', 'created inactive')
    .option('--password-stdin', 'read the password from standard input')
    .action(
      async (
        name: string,
        o: {
          email?: string;
          fullName?: string;
          admin?: boolean;
          inactive?: boolean;
          passwordStdin?: boolean;
        },
        cmd: Command,
      ) => {
        const c = client(cmd);
        const password = await readPassword(
          io,
          o.passwordStdin === true,
          'IMCTL_NEW_PASSWORD',
          `Password for ${name}: `,
        );
        print(
          cmd,
          await c.users.create({
            name,
            password,
            email: o.email ?? null,
            fullName: o.fullName ?? null,
            active: !o.inactive,
            roles: [o.admin ? 'admin' : 'user'],
          }),
        );
      },
    );
  users
    .command('update <id>')
    .description('change e-mail, full name, active or role')
    .option('--email <email>', 'e-mail address')
    .option('--full-name <name>', 'full name')
    .option('--active', 'activate')
    .option('--inactive', 'deactivate (their tokens are refused, their waiting jobs cancelled)')
    .addOption(new Option('--role <role>', 'admin or user').choices(['admin', 'user']))
    .action(
      async (
        id: string,
        o: {
          email?: string;
          fullName?: string;
          active?: boolean;
          inactive?: boolean;
          role?: 'admin' | 'user';
        },
        cmd: Command,
      ) => {
        if (o.active && o.inactive)
          throw new CliError('--active and --inactive exclude each other', EXIT.USAGE);
        print(
          cmd,
          await client(cmd).users.update(id, {
            ...(o.email !== undefined ? { email: o.email } : {}),
            ...(o.fullName !== undefined ? { fullName: o.fullName } : {}),
            ...(o.active ? { active: true } : {}),
            ...(o.inactive ? { active: false } : {}),
            ...(o.role ? { roles: [o.role] } : {}),
          }),
        );
      },
    );

  // ---- completion --------------------------------------------------------------------------------

  program
    .command('completion')
    .description('print a shell completion script: source <(imctl completion bash)')
    .addArgument(new Command().createArgument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .action((shell: 'bash' | 'zsh') => {
      out(completionScript(program, shell));
    });

  return { program, exitCode: () => exitCode };
}

function safeRead(store: ConfigStore): CliConfig | undefined {
  try {
    return store.read();
  } catch {
    return undefined;
  }
}

function toConfig(url: string, username: string, t: Tokens): CliConfig {
  return {
    url,
    username,
    accessToken: t.accessToken,
    refreshToken: t.refreshToken,
    expiresAt: new Date(t.expiresAt).toISOString(),
  };
}

function readFile(io: CliIo, file: string): string {
  try {
    return fs.readFileSync(path.resolve(io.cwd, file), 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`, EXIT.USAGE);
  }
}

async function readPassword(
  io: CliIo,
  fromStdin: boolean,
  envName: string,
  question: string,
): Promise<string> {
  let password: string | undefined;
  if (fromStdin) password = await readStdin(io.stdin);
  else if (io.env[envName]) password = io.env[envName];
  else if (io.stdin.isTTY) password = await promptHidden(io, question);
  else
    throw new CliError(
      'no password given',
      EXIT.USAGE,
      `pipe it with --password-stdin, set ${envName}, or run in a terminal to be asked`,
    );
  if (!password) throw new CliError('the password is empty', EXIT.USAGE);
  return password;
}

function writableOf(s: CliIo['stdout']): NodeJS.WritableStream {
  if (typeof (s as NodeJS.WritableStream).on === 'function') return s as NodeJS.WritableStream;
  throw new CliError('stdout is not a stream', EXIT.INTERNAL);
}

/** Hints for the codes whose fix is not in the problem's detail. */
const HINTS: Record<string, string> = {
  UNAUTHENTICATED: 'the session is no longer valid: run `imctl login` again',
  NOT_LOGGED_IN: 'run `imctl login --url <url> --username <name>`',
  BAD_CREDENTIALS: 'check the user name and password',
  FORBIDDEN: 'this needs an administrator',
  RATE_LIMITED: 'wait a moment and try again',
};

/** Reports an error on stderr; answers the exit code. */
export function reportError(io: CliIo, e: unknown): number {
  const err = (s: string) => io.stderr.write(s);
  if (e instanceof ProblemError) {
    err(`imctl: ${e.status} ${e.code}: ${e.detail}\n`);
    for (const f of e.errors) err(`  - ${f.path || '(body)'}: ${f.message}\n`);
    const hint = HINTS[e.code];
    if (hint) err(`hint: ${hint}\n`);
    if (e.status >= 500 && e.requestId) err(`request id: ${e.requestId}\n`);
    return e.status === 401 ? EXIT.NOT_LOGGED_IN : EXIT.REFUSED;
  }
  if (e instanceof CliError) {
    err(`imctl: ${e.message}\n`);
    if (e.hint) err(`hint: ${e.hint}\n`);
    return e.exitCode;
  }
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  if (e instanceof TypeError && e.message === 'fetch failed') {
    const cause = (e as TypeError & { cause?: { code?: string; message?: string } }).cause;
    err(`imctl: cannot reach the platform: ${cause?.code ?? cause?.message ?? 'network error'}\n`);
    err('hint: check --url (or the url in the config file) and that the platform runs\n');
    return EXIT.UNREACHABLE;
  }
  if (e instanceof SyntaxError) {
    err(`imctl: ${e.message}\n`);
    return EXIT.USAGE;
  }
  err(`imctl: ${e instanceof Error ? e.message : String(e)}\n`);
  return EXIT.INTERNAL;
}

/** Runs imctl with `args` (without node and the script); answers the exit code. */
export async function runCli(args: string[], io: CliIo): Promise<number> {
  const { program, exitCode } = createProgram(io);
  try {
    await program.parseAsync(args, { from: 'user' });
    return exitCode();
  } catch (e) {
    return reportError(io, e);
  }
}
