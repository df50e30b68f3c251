/**
 * The one catalog of stable error codes. Clients switch on `code`, never on `detail` text, so a code
 * once published is never renamed. Each entry carries the HTTP status it maps to and a title.
 */
export const errorCatalog = {
  VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  MALFORMED_JSON: { status: 400, title: 'The request body is not valid JSON' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  INVALID_FILE_NAME: { status: 400, title: 'The file name is not allowed' },
  PACKAGE_NOT_ATTACHED: { status: 400, title: 'The package is not attached to the configuration' },
  ENTRY_POINT_NOT_FOUND: { status: 400, title: 'The entry point is not in the package' },
  PACKAGE_UNREADABLE: { status: 400, title: 'The package is not a readable zip archive' },
  NOT_A_ZIP: { status: 400, title: 'A .djar package must be a zip archive' },
  PACKAGE_UNSAFE: { status: 400, title: 'The package is unsafe to unpack' },
  NOT_RUNNABLE: { status: 400, title: 'The configuration cannot run yet' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication is required' },
  BAD_CREDENTIALS: { status: 401, title: 'Bad credentials' },
  FORBIDDEN: { status: 403, title: 'Not allowed' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  CONFLICT: { status: 409, title: 'Conflict' },
  CONFIG_INACTIVE: { status: 409, title: 'The configuration is inactive' },
  CONFIG_HAS_UNFINISHED_JOBS: { status: 409, title: 'The configuration has unfinished jobs' },
  OWNER_INACTIVE: { status: 409, title: "The configuration's owner is deactivated" },
  USERNAME_TAKEN: { status: 409, title: 'The user name is taken' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCatalog;
