import { packageArchiveKey, type JobRequested } from '@im/contracts';
import { assertValidKey, type ObjectStorage } from '@im/storage';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { silentLogger } from '@im/logging';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import type { ExecutorSpec } from './executor/executor.protocol';
import { PackageCache, type PackageFetch } from './package.cache';
import { PackageUnusableError } from './package-unusable.error';
import {
  targetInside,
  unpackPackage,
  unsafePathReason,
  type UnpackLimits,
  type UnpackResult,
} from './package.unpacker';

const ENTRY_POINT = /\.(process|js|mjs)$/i;

/** A disabled cache: every fetch downloads. */
const NO_CACHE = new PackageCache('', 0, silentLogger());

/** A directory name for the attempt that cannot step outside the work dir, whatever the job id. */
export function attemptDirName(jobId: string, attempt: number): string {
  const safe = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(jobId)
    ? jobId
    : `job-${createHash('sha256').update(jobId).digest('hex').slice(0, 32)}`;
  return `${safe}-${attempt}`;
}

export interface OutputUpload {
  files: number;
  bytes: number;
  /** Files not uploaded (links, special files, names that are no valid key) and why. */
  skipped: { path: string; why: string }[];
}

/**
 * The local directory of one attempt: `spec/` (the unpacked package, the executor's cwd), `out/`
 * (the job's output files), `tmp/` (the executor's TMPDIR), the downloaded package, the executor
 * spec and the local job log.
 */
export class JobWorkspace {
  readonly specDir: string;
  readonly outDir: string;
  readonly tmpDir: string;
  readonly logFile: string;
  readonly specFile: string;
  private readonly packageFile: string;

  constructor(readonly dir: string) {
    this.specDir = path.join(dir, 'spec');
    this.outDir = path.join(dir, 'out');
    this.tmpDir = path.join(dir, 'tmp');
    this.logFile = path.join(dir, 'job.log');
    this.specFile = path.join(dir, 'executor-spec.json');
    this.packageFile = path.join(dir, 'package.djar');
  }

  /** Creates the directories, replacing what an earlier run of the same attempt left behind. */
  async create(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const d of [this.specDir, this.outDir, this.tmpDir]) await fs.mkdir(d, { mode: 0o700 });
    // Node decides whether a .js file is CommonJS from the nearest package.json: make that this one
    // (unless the package ships its own), not whatever lies above the work dir.
    await fs.writeFile(path.join(this.dir, 'package.json'), '{ "type": "commonjs" }\n', { mode: 0o600 });
  }

  /**
   * Places the package in the attempt's directory: from the cache when it holds this version (a hard
   * link), else streamed from storage (never into memory), through the cache when it is on.
   */
  async fetchPackage(
    storage: ObjectStorage,
    req: JobRequested,
    signal: AbortSignal,
    cache?: PackageCache,
  ): Promise<PackageFetch> {
    const key = `${req.packagePrefix}/${req.packageName}`;
    let got: PackageFetch | null;
    try {
      assertValidKey(key);
      got = await (cache ?? NO_CACHE).fetch(storage, key, this.packageFile, signal);
    } catch (err) {
      if (err instanceof Error && /Invalid object key/.test(err.message)) {
        throw new PackageUnusableError(
          `the package name '${req.packageName}' is not a valid file name`,
          "fix the configuration's runtimeConfig.packageName",
        );
      }
      throw err;
    }
    if (!got) {
      throw new PackageUnusableError(
        `the package '${req.packageName}' is not among the configuration's files`,
        'upload the package to the configuration or fix its runtimeConfig.packageName',
      );
    }
    return got;
  }

  /** Directories the executor may write: the package, the outputs and its TMPDIR (not the log or spec). */
  get writableDirs(): string[] {
    return [this.specDir, this.outDir, this.tmpDir];
  }

  /** Unpacks the package into the spec dir; the package file stays until {@link archivePackage}. */
  async unpack(limits: UnpackLimits, signal: AbortSignal): Promise<UnpackResult> {
    return unpackPackage(this.packageFile, this.specDir, limits, signal);
  }

  /** Removes the local package file (its version is kept in storage already). */
  async discardPackage(): Promise<void> {
    await fs.rm(this.packageFile, { force: true });
  }

  /**
   * Keeps the exact bytes of the package this attempt runs at `packageArchiveKey(sha256)` (once per
   * package version: nothing is written when they are there already), then removes the local file.
   * Answers the sha256.
   */
  async archivePackage(storage: ObjectStorage): Promise<string> {
    try {
      const hash = createHash('sha256');
      await pipeline(createReadStream(this.packageFile), hash);
      const sha256 = hash.digest('hex');
      const key = packageArchiveKey(sha256);
      if (!(await storage.head(key))) await storage.put(key, createReadStream(this.packageFile));
      return sha256;
    } finally {
      await this.discardPackage();
    }
  }

  /**
   * packageArtifactOverride: copies the configuration's other files into the package, replacing
   * files of the same name. Returns the names copied.
   */
  async applyOverrides(storage: ObjectStorage, req: JobRequested, signal: AbortSignal): Promise<string[]> {
    const prefix = `${req.packagePrefix}/`;
    const packageKey = `${prefix}${req.packageName}`;
    const copied: string[] = [];
    for await (const o of storage.list(prefix)) {
      if (o.key === packageKey) continue;
      const name = o.key.slice(prefix.length);
      const target = targetInside(this.specDir, name);
      const st = await fs.lstat(target).catch(() => null);
      if (st && !st.isFile()) {
        throw new PackageUnusableError(
          `the configuration file '${name}' would replace a directory of the package`,
          'rename the configuration file',
        );
      }
      const obj = await storage.get(o.key);
      if (!obj) continue; // removed meanwhile
      await fs
        .mkdir(path.dirname(target), { recursive: true, mode: 0o700 })
        .catch((err: NodeJS.ErrnoException) => {
          throw new PackageUnusableError(
            `the configuration file '${name}' conflicts with a file of the package (${err.code ?? err.message})`,
            'rename the configuration file',
          );
        });
      await pipeline(obj.body, createWriteStream(target, { mode: 0o600 }), { signal });
      copied.push(name);
    }
    return copied;
  }

  /** The entry point's absolute path, once it is known to be a runnable file of the package. */
  async resolveEntryPoint(entryPoint: string): Promise<string> {
    const fix = "fix the configuration's runtimeConfig.entryPoint or upload a package that contains it";
    if (unsafePathReason(entryPoint))
      throw new PackageUnusableError(`the entry point '${entryPoint}' is not a path inside the package`, fix);
    const file = targetInside(this.specDir, entryPoint);
    const st = await fs.lstat(file).catch(() => null);
    if (!st?.isFile())
      throw new PackageUnusableError(`the entry point '${entryPoint}' is not in the package`, fix);
    if (!ENTRY_POINT.test(entryPoint)) {
      throw new PackageUnusableError(
        `the entry point '${entryPoint}' is neither a process definition (.process) nor a Node script (.js, .mjs)`,
        fix,
      );
    }
    return file;
  }

  async writeExecutorSpec(spec: ExecutorSpec): Promise<void> {
    await fs.writeFile(this.specFile, JSON.stringify(spec), { mode: 0o600 });
    await fs.chmod(this.specFile, 0o600);
  }

  /**
   * Uploads every regular file under out/ to `${outPrefix}${relative path}`, after removing what an
   * earlier run left there. Links are never followed (the package could point one at the runner's
   * own files).
   */
  async uploadOutputs(storage: ObjectStorage, outPrefix: string): Promise<OutputUpload> {
    const result: OutputUpload = { files: 0, bytes: 0, skipped: [] };
    await storage.deletePrefix(outPrefix);
    const walk = async (dir: string, rel: string): Promise<void> => {
      const entries = await fs.readdir(dir, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        const relPath = rel ? `${rel}/${e.name}` : e.name;
        const abs = path.join(dir, e.name);
        if (e.isDirectory()) {
          await walk(abs, relPath);
          continue;
        }
        if (!e.isFile()) {
          result.skipped.push({
            path: relPath,
            why: e.isSymbolicLink() ? 'symbolic link' : 'not a regular file',
          });
          continue;
        }
        const key = `${outPrefix}${relPath}`;
        try {
          assertValidKey(key);
        } catch {
          result.skipped.push({ path: relPath, why: 'the name is not a valid object key' });
          continue;
        }
        // O_NOFOLLOW: a file swapped for a link after the listing is refused, not followed.
        let handle;
        try {
          handle = await fs.open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
          result.skipped.push({ path: relPath, why: 'symbolic link' });
          continue;
        }
        const put = await storage.put(key, handle.createReadStream());
        result.files++;
        result.bytes += put.size;
      }
    };
    // The package may have replaced out/ itself by a link: then nothing is uploaded.
    const top = await fs.lstat(this.outDir).catch(() => null);
    if (!top?.isDirectory()) {
      if (top) result.skipped.push({ path: '.', why: 'out/ is no longer a directory' });
      return result;
    }
    await walk(this.outDir, '');
    return result;
  }

  async remove(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}
