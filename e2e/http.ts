/** A tiny fetch wrapper for end-to-end tests: JSON in, JSON or text out, status kept. */
export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export interface ApiOptions {
  token?: string;
  json?: unknown;
  body?: RequestInit['body'];
  headers?: Record<string, string>;
}

export function client(baseUrl: string) {
  return async (method: string, path: string, opts: ApiOptions = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body = opts.body;
    if (opts.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(opts.json);
    }
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body, duplex: 'half' } : {}),
    });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
}

export type Api = ReturnType<typeof client>;
