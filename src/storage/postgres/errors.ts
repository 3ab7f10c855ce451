/** Classification of PostgreSQL errors: transient (retry) or permanent. */
/** SQLSTATE classes where the same statement may succeed later (docs: Appendix A). */
const RETRIABLE_SQLSTATE_CLASSES = new Set(['08', '53', '57', '58']);
const RETRIABLE_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '25006', // read_only_sql_transaction: we reached a standby during a failover
  '55000', // object_not_in_prerequisite_state: e.g. the database does not accept connections now (maintenance)
]);
const RETRIABLE_SYSCALL_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN',
  'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ECONNABORTED', 'EHOSTDOWN',
]);
/**
 * node-postgres reports a lost or unusable connection with a plain Error and
 * no code; these are its words (client.js, pg-pool) for that case.
 */
const CONNECTION_MESSAGE =
  /Connection terminated|Connection ended|timeout exceeded when trying to connect|connection timeout|Query read timeout|not queryable|socket hang up|Client was closed|server closed the connection/i;

/**
 * Tells a transient PostgreSQL failure (the connection, the server's state,
 * a lock conflict) from a permanent one (the server refused the data).
 * Unknown errors without a SQLSTATE are permanent: retrying a bug forever
 * would stall the pipeline, whereas a connection loss always shows one of the
 * codes or messages above.
 */
export function isRetriablePgError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code !== undefined && RETRIABLE_SYSCALL_CODES.has(code)) return true;
  // A SQLSTATE is five digits/upper-case letters; node's own codes (EPIPE) are caught above.
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) {
    return RETRIABLE_SQLSTATES.has(code) || RETRIABLE_SQLSTATE_CLASSES.has(code.slice(0, 2));
  }
  // Node's happy-eyeballs connect gathers one error per address in an AggregateError.
  if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every(isRetriablePgError)) return true;
  if (code === undefined && typeof e.message === 'string' && CONNECTION_MESSAGE.test(e.message)) return true;
  if (e.cause !== undefined && e.cause !== err) return isRetriablePgError(e.cause);
  return false;
}
