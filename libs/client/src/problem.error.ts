/** One field the server named in a validation problem. */
export interface ProblemFieldError {
  path: string;
  message: string;
}

/**
 * An error answer of the API: its problem+json body (RFC 9457) as fields. An answer that is not
 * problem+json (a proxy's HTML page, an empty body) becomes one too, with code `HTTP_<status>`.
 */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: ProblemFieldError[];
  readonly type: string | undefined;
  readonly instance: string | undefined;
  readonly requestId: string | undefined;

  constructor(init: {
    status: number;
    code: string;
    title: string;
    detail: string;
    errors?: ProblemFieldError[];
    type?: string;
    instance?: string;
    requestId?: string;
  }) {
    super(`${init.status} ${init.code}: ${init.detail}`);
    this.status = init.status;
    this.code = init.code;
    this.title = init.title;
    this.detail = init.detail;
    this.errors = init.errors ?? [];
    this.type = init.type;
    this.instance = init.instance;
    this.requestId = init.requestId;
  }

  /** Reads an error answer (the body is consumed). */
  static async fromResponse(res: Response): Promise<ProblemError> {
    const text = await res.text().catch(() => '');
    return ProblemError.fromBody(res.status, res.statusText, text);
  }

  static fromBody(status: number, statusText: string, text: string): ProblemError {
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (isRecord(body) && typeof body.code === 'string') {
      return new ProblemError({
        status: typeof body.status === 'number' ? body.status : status,
        code: body.code,
        title: str(body.title) ?? statusText,
        detail: str(body.detail) ?? str(body.title) ?? statusText,
        errors: Array.isArray(body.errors)
          ? body.errors.filter(isRecord).map((e) => ({ path: String(e.path), message: String(e.message) }))
          : [],
        type: str(body.type),
        instance: str(body.instance),
        requestId: str(body.requestId),
      });
    }
    const snippet = text.trim().slice(0, 200);
    return new ProblemError({
      status,
      code: `HTTP_${status}`,
      title: statusText || `HTTP ${status}`,
      detail: snippet && !snippet.startsWith('<') ? snippet : statusText || `HTTP ${status}`,
    });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
