/** `scheme://user:password@` → `scheme://user:****@` (postgres URLs, http URLs with credentials). */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*):([^\s@/'"]+)@/gi;
/** `password=secret` in libpq key/value connection strings and query strings. */
const KEY_VALUE_PASSWORD = /\b(password|passwd|pwd)=('[^']*'|[^\s&;'"]+)/gi;

/**
 * Removes credentials that error messages of drivers and libraries may carry, before a line reaches
 * the job log. The runner also masks the values of secure macros; this catches the ones that are
 * part of a larger value (a connection string built from a secure password, say).
 */
export function redactCredentials(text: string): string {
  return text.replace(URL_PASSWORD, '$1:****@').replace(KEY_VALUE_PASSWORD, '$1=****');
}

/** A URL as it may appear in the job log: no credentials, no query string (tokens live there). */
export function describeUrl(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.origin}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return redactCredentials(String(url));
  }
}
