import { IsoDateTime, listEnvelope, NumericId, ResourceRef } from './common.schema';
import { z } from './zod';

export const LogLevel = z.enum(['SEVERE', 'WARNING', 'INFO', 'DEBUG']);
export type LogLevel = z.infer<typeof LogLevel>;

export const MacroKey = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must start with a letter or _ and hold letters, digits, _ . - only');

/** A macro as a client sends it. A secure macro's value is write-only. */
export const MacroInput = z
  .object({
    key: MacroKey,
    value: z.string().max(65536).nullable().optional(),
    secure: z.boolean().default(false),
    description: z.string().max(1024).nullable().optional(),
  })
  .openapi('MacroInput');
export type MacroInput = z.infer<typeof MacroInput>;

/** A macro as the API returns it: a secure macro never carries its value. */
export const Macro = z
  .object({
    key: z.string(),
    value: z.string().nullable().optional(),
    secure: z.boolean(),
    description: z.string().nullable().optional(),
  })
  .openapi('Macro');
export type Macro = z.infer<typeof Macro>;

/**
 * A macro sent to `POST /jobconfigs/{id}/macros` or `PUT /jobconfigs/{id}/macros/{name}`. `name` is
 * accepted as an alias of `key` (the original product's field name). On PUT a value left out keeps the
 * stored one (a secure macro's value is write-only), and `secure` left out keeps the stored flag.
 */
export const MacroRequest = z
  .object({
    key: MacroKey.optional().openapi({
      description: 'The macro name, used as `$(key)`.',
      example: 'CUSTOMER',
    }),
    name: MacroKey.optional().openapi({ description: 'Alias of `key`.' }),
    value: z.string().max(65536).nullable().optional(),
    secure: z.boolean().optional().openapi({ description: 'Write-only value, masked in job logs.' }),
    description: z.string().max(1024).nullable().optional(),
  })
  .superRefine((m, ctx) => {
    if (m.key !== undefined && m.name !== undefined && m.key !== m.name)
      ctx.addIssue({ code: 'custom', path: ['name'], message: 'must equal key (name is an alias of key)' });
  })
  .openapi('MacroRequest');
export type MacroRequest = z.infer<typeof MacroRequest>;

/** `POST /jobconfigs/{id}/macros`: the key (or its alias `name`) is required. */
export const MacroCreateRequest = MacroRequest.superRefine((m, ctx) => {
  if (m.key === undefined && m.name === undefined)
    ctx.addIssue({ code: 'custom', path: ['key'], message: 'is required' });
});

/** A macro of a configuration as the macro routes return it: a secure macro never carries its value. */
export const MacroResource = z
  .object({
    key: z.string(),
    /** The same as `key`, for clients of the original product. */
    name: z.string(),
    href: z.string(),
    value: z.string().nullable().optional(),
    secure: z.boolean(),
    description: z.string().nullable().optional(),
  })
  .openapi('MacroResource');
export type MacroResource = z.infer<typeof MacroResource>;

export const MacroList = listEnvelope(MacroResource, 'MacroList');

/**
 * `POST /jobconfigs/{id}/macrobindings`: the secure values the caller confirmed for the code the
 * configuration runs now (ADR 0016), and those still withheld from its runs.
 */
export const MacroBindingConfirmation = z
  .object({
    packageName: z.string().nullable().openapi({ description: 'The package the values are bound to now.' }),
    entryPoint: z.string().nullable(),
    packageVersion: z.string().nullable().openapi({
      description:
        "The package file's version (its storage ETag, or a digest of every attached file when packageArtifactOverride is on).",
    }),
    packageArtifactOverride: z.boolean(),
    confirmed: z.array(z.string()).openapi({ description: 'Secure macros bound to this code by this call.' }),
    withheld: z.array(z.string()).openapi({
      description:
        'Secure macros runs still do not receive: set by someone else, which only they or an administrator can confirm.',
    }),
  })
  .openapi('MacroBindingConfirmation');
export type MacroBindingConfirmation = z.infer<typeof MacroBindingConfirmation>;

/** The same rules the file-storage service applies to a key; kept here so both sides agree. */
export const FileKey = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => Buffer.byteLength(s, 'utf8') <= 255, 'must be at most 255 bytes')
  .refine((s) => !/[/\\]/.test(s), 'must not contain path separators')
  .refine((s) => s !== '.' && s !== '..', 'must not be . or ..')
  // eslint-disable-next-line no-control-regex
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters')
  .openapi({ example: 'samplePackage.djar' });

export const EntryPointName = z.string().min(1).max(1024);

const uniqueMacroKeys = (macros: { key: string }[] | null | undefined) =>
  !macros || new Set(macros.map((m) => m.key)).size === macros.length;

export const RuntimeConfigInput = z
  .object({
    packageName: FileKey.nullable().optional(),
    entryPoint: EntryPointName.nullable().optional(),
    packageArtifactOverride: z.boolean().optional(),
    logLevel: LogLevel.optional(),
    macros: z.array(MacroInput).max(500).refine(uniqueMacroKeys, 'macro keys must be unique').optional(),
  })
  .openapi('RuntimeConfigInput');
export type RuntimeConfigInput = z.infer<typeof RuntimeConfigInput>;

export const RuntimeConfig = z
  .object({
    packageName: z.string().nullable(),
    entryPoint: z.string().nullable(),
    packagePrefix: z.string().openapi({ description: "Storage prefix of this configuration's files." }),
    packageArtifactOverride: z.boolean(),
    logLevel: LogLevel,
    macros: z.array(Macro),
  })
  .openapi('RuntimeConfig');
export type RuntimeConfig = z.infer<typeof RuntimeConfig>;

export const Tags = z.array(z.string().min(1).max(128)).max(64);

export const JobConfigInput = z
  .object({
    name: z.string().trim().min(1, 'must not be empty').max(255),
    active: z.boolean().optional(),
    description: z.string().max(4096).nullable().optional(),
    runtimeConfig: RuntimeConfigInput.optional(),
    timeout: z
      .number()
      .int()
      .min(0)
      .max(525600)
      .optional()
      .openapi({ description: 'Minutes; 0 means none.' }),
    blocking: z.boolean().optional(),
    maxAttempts: z.number().int().min(1).max(10).optional().openapi({
      description:
        'Attempts a job of this configuration gets when its runner is lost (killed, node gone) before it ends; 1 (default) fails it with reason runner-lost at once.',
    }),
    schedule: z.string().max(255).nullable().optional(),
    tags: Tags.optional(),
  })
  .openapi('JobConfigInput');
export type JobConfigInput = z.infer<typeof JobConfigInput>;

/** PATCH merges: every field optional, `runtimeConfig` merged field by field. */
export const JobConfigPatch = JobConfigInput.partial().openapi('JobConfigPatch');
export type JobConfigPatch = z.infer<typeof JobConfigPatch>;

export const JobConfig = z
  .object({
    id: NumericId,
    href: z.string(),
    active: z.boolean(),
    name: z.string(),
    description: z.string().nullable(),
    user: ResourceRef,
    runtimeConfig: RuntimeConfig,
    timeout: z.number().int(),
    blocking: z.boolean(),
    maxAttempts: z.number().int(),
    schedule: z.string().nullable().openapi({
      description:
        'A summary of the schedule (GET /jobconfigs/{id}/schedule), e.g. `cron 0 0 6 ? * MON-FRI Europe/Berlin`; without one, the stored free text or null.',
    }),
    nextFireTime: IsoDateTime.nullable().openapi({
      description: 'When the schedule fires next; null without one.',
    }),
    tags: z.array(z.string()),
    created: IsoDateTime,
    createdByUser: ResourceRef,
    lastModified: IsoDateTime,
    lastModifiedByUser: ResourceRef,
  })
  .openapi('JobConfig');
export type JobConfig = z.infer<typeof JobConfig>;

export const JobConfigList = listEnvelope(JobConfig, 'JobConfigList');

export const JobConfigIdParams = z.object({ id: NumericId });

export const EntryPoints = z
  .object({ packageName: z.string(), entryPoints: z.array(z.string()) })
  .openapi('EntryPoints');
export type EntryPoints = z.infer<typeof EntryPoints>;
