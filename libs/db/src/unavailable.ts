/** Error codes of a database that cannot be reached right now (node, pg and PostgreSQL's own). */
const DOWN_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08004', // sqlserver_rejected_establishment_of_sqlconnection
  '08006', // connection_failure
  'SQLITE_BUSY',
]);

const DOWN_MESSAGES = [
  /Connection terminated/i,
  /connection error/i,
  /Timeout acquiring a connection/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
];

/**
 * True when `err` says the database is unreachable (down, restarting, pool exhausted), not that the
 * statement or the data is wrong: work that failed on it is worth trying again later.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const o = e as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
    if (typeof o.code === 'string' && DOWN_CODES.has(o.code)) return true;
    if (o.name === 'KnexTimeoutError') return true;
    if (typeof o.message === 'string' && DOWN_MESSAGES.some((re) => re.test(o.message as string)))
      return true;
    if (Array.isArray(o.errors) && o.errors.some((x) => isDatabaseUnavailable(x))) return true;
    e = o.cause;
  }
  return false;
}
