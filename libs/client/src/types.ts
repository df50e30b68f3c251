import type {
  AuditAction,
  AuditOutcome,
  CreateAccountRequest as CreateAccountRequestSchema,
  CreateUserRequest as CreateUserRequestSchema,
  JobConfigInput as JobConfigInputSchema,
  JobConfigPatch as JobConfigPatchSchema,
  JobStatus,
  MacroRequest as MacroRequestSchema,
  RunRequest as RunRequestSchema,
  ScheduleRequest as ScheduleRequestSchema,
  UpdateUserRequest as UpdateUserRequestSchema,
  z,
} from '@im/contracts';

// Response types are the contract's own (z.infer of the schemas the server validates with); request
// types are the schemas' input side, so fields with server defaults stay optional.
export type {
  Account,
  AuditAction,
  AuditEvent,
  AuditOutcome,
  CreatedAccount,
  EntryPoints,
  FileResource,
  Job,
  JobConfig,
  JobOutputFile,
  JobStatus,
  ListPage,
  MacroBindingConfirmation,
  MacroResource,
  Problem,
  ProductInfo,
  ScheduleResponse,
  TokenResponse,
  User,
} from '@im/contracts';

export type JobConfigInput = z.input<typeof JobConfigInputSchema>;
export type JobConfigPatch = z.input<typeof JobConfigPatchSchema>;
export type RunRequest = z.input<typeof RunRequestSchema>;
export type CreateUserRequest = z.input<typeof CreateUserRequestSchema>;
export type UpdateUserRequest = z.input<typeof UpdateUserRequestSchema>;
export type CreateAccountRequest = z.input<typeof CreateAccountRequestSchema>;
/** A macro sent to create (`key`, or its alias `name`, required) or to create or replace one. */
export type MacroRequest = z.input<typeof MacroRequestSchema>;
export type ScheduleRequest = z.input<typeof ScheduleRequestSchema>;

/** Paging of every list: `offset` is the zero-based page number. */
export interface ListParams {
  offset?: number;
  size?: number;
  sortby?: string;
  direction?: string;
}

export interface JobListParams extends ListParams {
  jobconfigid?: string;
  /** One status or several. */
  status?: JobStatus | JobStatus[];
  startdate?: string;
  enddate?: string;
}

/** `GET /audit`: paged (newest first unless sorted otherwise), filtered by these fields. */
export interface AuditParams extends ListParams {
  action?: AuditAction;
  /** Only this user's actions. */
  actorId?: string;
  resourceType?: string;
  resourceId?: string;
  outcome?: AuditOutcome;
  /** At or after (ISO-8601 with an offset, e.g. `2026-01-01T00:00:00Z`). */
  from?: string;
  /** Before (ISO-8601 with an offset). */
  to?: string;
}

/** The session a client holds: kept by the caller (the CLI writes it to its config file). */
export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, epoch milliseconds. */
  expiresAt: number;
}

/** Bytes sent so far of `total` (undefined when the size is not known). */
export type ProgressCallback = (sent: number, total: number | undefined) => void;

export interface UploadOptions {
  /** The size in bytes, for progress and Content-Length-less streams. */
  size?: number;
  contentType?: string;
  onProgress?: ProgressCallback;
}

export interface MultipartUploadOptions {
  /** The file part's content type when `file` is bytes (a Blob carries its own type). */
  contentType?: string;
}

export interface Download {
  /** The bytes, streamed; read it to the end or cancel it. */
  body: ReadableStream<Uint8Array>;
  size: number | undefined;
  contentType: string | undefined;
  etag: string | undefined;
}
