import { PackageManifest, type JobRequested, type LogLevel } from '@im/contracts';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { PackageUnusableError } from './package-unusable.error';

export const MANIFEST_FILE = 'manifest.json';
const MAX_MANIFEST_BYTES = 1024 * 1024;
const FIX =
  'fix manifest.json at the root of the package: an object with optional name, version, defaultEntryPoint and macros: [{ key, default, description, secure }]';

export interface ManifestRead {
  manifest: PackageManifest;
  /** Top-level fields the runner does not know (ignored). */
  unknownFields: string[];
}

/** `macros[1].key` for zod's path `['macros', 1, 'key']`. */
function fieldPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const s of p) out += typeof s === 'number' ? `[${s}]` : out ? `.${String(s)}` : String(s);
  return out || '(the document)';
}

/**
 * Reads `manifest.json` at the root of the unpacked package; null when there is none. A manifest that
 * is not a regular file, too large, not JSON, or not valid makes the package unusable, with the
 * fields at fault named.
 */
export async function readManifest(specDir: string): Promise<ManifestRead | null> {
  const file = path.join(specDir, MANIFEST_FILE);
  const st = await fs.lstat(file).catch(() => null);
  if (!st) return null;
  if (!st.isFile()) throw new PackageUnusableError('manifest.json is not a regular file', FIX);
  if (st.size > MAX_MANIFEST_BYTES)
    throw new PackageUnusableError(`manifest.json is larger than ${MAX_MANIFEST_BYTES} bytes`, FIX);
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new PackageUnusableError(`manifest.json is not valid JSON: ${(err as Error).message}`, FIX);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new PackageUnusableError('manifest.json is not valid: it must be a JSON object', FIX);
  const parsed = PackageManifest.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 10)
      .map((i) => `${fieldPath(i.path)}: ${i.message}`)
      .join('; ');
    throw new PackageUnusableError(`manifest.json is not valid: ${problems}`, FIX);
  }
  const known = new Set(Object.keys(PackageManifest.shape));
  return { manifest: parsed.data, unknownFields: Object.keys(raw).filter((k) => !known.has(k)) };
}

export interface ResolvedMacros {
  /** Every macro by key, built-ins included. */
  values: Record<string, string>;
  /** Values to mask in the job log. */
  secrets: string[];
  /** Lines for the job log (what was ignored, which defaults applied, what is missing). */
  notes: { level: LogLevel; text: string }[];
}

/**
 * The job's macros, lowest precedence first: the package manifest's defaults, the configuration's
 * and run request's (`requested`, already resolved in that order by jobconfig), then the built-ins,
 * which nothing overrides. A manifest default applies only when the request has no value for its key.
 * A macro is secret when the request says so or the manifest declares it secure.
 */
export function resolveMacros(
  requested: JobRequested['macros'],
  manifest: PackageManifest | null,
  builtIns: Record<string, string>,
): ResolvedMacros {
  const notes: ResolvedMacros['notes'] = [];
  const values = Object.create(null) as Record<string, string>;
  const secureKeys = new Set<string>();
  const isBuiltIn = (k: string) => Object.hasOwn(builtIns, k);

  const defaults: string[] = [];
  const missing: string[] = [];
  const requestedKeys = new Set(requested.map((m) => m.key));
  for (const m of manifest?.macros ?? []) {
    if (isBuiltIn(m.key)) {
      notes.push({
        level: 'WARNING',
        text: `macro ${m.key} of the package manifest ignored: it is built in`,
      });
      continue;
    }
    if (m.secure) secureKeys.add(m.key);
    if (requestedKeys.has(m.key)) continue;
    if (m.default !== undefined) {
      values[m.key] = m.default;
      defaults.push(m.key);
    } else missing.push(m.key);
  }
  for (const m of requested) {
    if (isBuiltIn(m.key)) {
      notes.push({
        level: 'WARNING',
        text: `macro ${m.key} of the configuration or run request ignored: it is built in`,
      });
      continue;
    }
    values[m.key] = m.value;
    if (m.secure) secureKeys.add(m.key);
  }
  if (defaults.length > 0)
    notes.push({ level: 'INFO', text: `package defaults used for macro(s): ${defaults.join(', ')}` });
  if (missing.length > 0)
    notes.push({
      level: 'WARNING',
      text: `macro(s) the package expects have no value (no default in manifest.json, none in the configuration or run request): ${missing.join(', ')}`,
    });
  const secrets = [...secureKeys]
    .map((k) => values[k])
    .filter((v): v is string => v !== undefined && v !== '');
  return { values: { ...values, ...builtIns }, secrets, notes };
}
