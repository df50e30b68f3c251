import { MacroKey } from './jobconfig.schema';
import { z } from './zod';

/** A relative path inside a package: no leading `/`, no `..` segment, no backslash. */
const PackagePath = z
  .string()
  .min(1)
  .max(1024)
  .refine(
    (p) => !p.startsWith('/') && !/^[A-Za-z]:/.test(p) && !p.includes('\\') && !p.split('/').includes('..'),
    'must be a relative path inside the package (no leading /, no .., no backslash)',
  );

/** A macro a package expects, with its default value. */
export const ManifestMacro = z.object({
  key: MacroKey,
  /** Used when neither the configuration nor the run request gives the macro a value. */
  default: z.string().max(65536).optional(),
  description: z.string().max(1024).optional(),
  /** The value is a secret: masked in the job log like a secure macro of the configuration. */
  secure: z.boolean().optional(),
});
export type ManifestMacro = z.infer<typeof ManifestMacro>;

/**
 * `manifest.json` at the root of a package (optional). Unknown fields are ignored (the runner lists
 * them in the job log), so a package written for a later version still runs.
 */
export const PackageManifest = z.object({
  name: z.string().min(1).max(255).optional(),
  version: z.string().min(1).max(64).optional(),
  /** The entry point a configuration would pick first (informative for now). */
  defaultEntryPoint: PackagePath.optional(),
  macros: z
    .array(ManifestMacro)
    .max(500)
    .refine((ms) => new Set(ms.map((m) => m.key)).size === ms.length, 'macro keys must be unique')
    .default([]),
});
export type PackageManifest = z.infer<typeof PackageManifest>;
