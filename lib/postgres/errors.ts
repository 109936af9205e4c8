import { HydratorError, errorMessage } from '../errors.js'
import { NETWORK_ERROR_CODES } from '../retry.js'

// postgres.js's own codes for a connection that closed or did not open in time. Its other
// connection codes (CONNECTION_ENDED, CONNECTION_DESTROYED) mean the client was ended on purpose.
const CLIENT_CODES: ReadonlySet<string> = new Set(['CONNECTION_CLOSED', 'CONNECT_TIMEOUT'])

// A connection that was never made (refused, timed out connecting, no DNS answer, no route): no
// statement was sent on it.
const NEVER_CONNECTED: ReadonlySet<string> = new Set(['ECONNREFUSED', 'CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN'])

// SQLSTATEs worth another try: the server went away, is starting or is full, the transaction lost
// a race, or a lock was not granted within lock_timeout (55P03).
const RETRYABLE_STATES = new Set(['57P01', '57P02', '57P03', '40001', '40P01', '53300', '53400', '55P03'])

// SQLSTATEs saying the server is over its capacity, for `--rate auto`: lock_not_available (a
// lock_timeout ran out), too_many_connections (max_connections, or a role's CONNECTION LIMIT).
const THROTTLE_STATES = new Set(['55P03', '53300'])

/**
 * The SQLSTATE of an error PostgreSQL sent, or undefined for any other error (network, client,
 * ours). This is the one place that tells a server error apart, by the shape porsager/postgres's
 * `PostgresError` has: a five-character `code` and a `severity`. Not `instanceof PostgresError`:
 * the client is the caller's, made by their copy of `postgres`, whose class need not be ours (another
 * version, or the same package loaded once as ESM and once as CommonJS: two distinct classes), and
 * `postgres` is an optional peer dependency this module must load without.
 */
export function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown; severity?: unknown } | null
  return e && typeof e.code === 'string' && typeof e.severity === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined
}

/**
 * The code of a lost or refused connection: one of the network codes every sink retries
 * ({@link NETWORK_ERROR_CODES}) or one of postgres.js's own. Only the error's own `code` counts, not
 * the causes and messages `isNetworkError()` also reads: the ERR_CONNECTION of a COMMIT whose
 * outcome is unknown (copy.ts) has the lost connection's error as its cause, and retrying it could
 * copy a batch twice.
 */
function networkCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && (NETWORK_ERROR_CODES.has(code) || CLIENT_CODES.has(code)) ? code : undefined
}

/** The connection is gone (or never came): nothing more may be sent on it. */
export function isConnectionLoss(error: unknown): boolean {
  const state = sqlState(error)
  if (state) return state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03'
  return networkCode(error) !== undefined
}

/**
 * A connection lost in a way that does not say whether the statement in flight committed: the
 * socket closed or timed out. A refused connection never sent it; a server error (57P01, ...)
 * arrives instead of the statement's result, so the statement did not commit.
 */
export function isAmbiguousLoss(error: unknown): boolean {
  if (sqlState(error)) return false
  const code = networkCode(error)
  return code !== undefined && !NEVER_CONNECTED.has(code)
}

/** A lost or refused connection, a deadlock, a serialization failure: the batch is tried again. */
export function isRetryable(error: unknown): boolean {
  const state = sqlState(error)
  if (state) return state.startsWith('08') || RETRYABLE_STATES.has(state)
  return networkCode(error) !== undefined
}

/**
 * PostgreSQL is over its capacity (`--rate auto` backs off): a lock not granted within
 * `lock_timeout` (55P03) or too many connections (53300).
 */
export function isThrottle(error: unknown): boolean {
  const state = sqlState(error)
  return state !== undefined && THROTTLE_STATES.has(state)
}

/** An error caused by some row's data: bad value, constraint, trigger. Bisecting finds the row. */
export function isRowRejection(error: unknown): boolean {
  const state = sqlState(error)
  if (!state) return false
  return ['21', '22', '23', '27', '2F', '38', '39', '54', 'P0'].includes(state.slice(0, 2))
}

/** PostgreSQL's own words for one rejected row; the detail line is left out, as it can hold the whole row. */
export function rejectionMessage(error: unknown, table: string): string {
  const e = error as { message?: string; code?: string; constraint_name?: string; column_name?: string }
  return `${table} rejected the row (${e.code}): ${e.message ?? errorMessage(error)}`
}

/** Errors that mean the table or the role is not what the mapping needs: the run stops. */
export function configError(error: unknown, table: string): HydratorError | undefined {
  if (error instanceof HydratorError) return error
  const state = sqlState(error)
  if (!state) return undefined
  const message = `${table}: ${errorMessage(error)} (${state})`
  if (state === '42501' || state.startsWith('28')) return new HydratorError('ERR_AUTH', message, { cause: error })
  if (state === '3D000') return new HydratorError('ERR_TARGET_NOT_FOUND', message, { cause: error })
  if (['42P01', '42703', '42704', '3F000', '42P10', '25006'].includes(state)) return new HydratorError('ERR_TARGET_SCHEMA', message, { cause: error })
  return undefined
}

/** The run's error for a PostgreSQL that cannot be reached at `uri` (already free of passwords). */
export function connectionError(error: unknown, uri: string): HydratorError {
  return new HydratorError('ERR_CONNECTION', `cannot reach PostgreSQL at ${uri}: ${errorMessage(error)}`, { cause: error })
}
