import { HydratorError, errorMessage, type ErrorCode } from '../errors.js'
import { NETWORK_ERROR_CODES } from '../retry.js'

// Errors that pass: a lost connection, a deadlock victim, a lock timeout, Azure SQL throttling.
// tedious's own codes for a connection that is lost or unusable; Node's generic network codes
// (ECONNRESET, ECONNREFUSED, ...) come from NETWORK_ERROR_CODES.
const TEDIOUS_TRANSIENT_CODES = new Set(['ESOCKET', 'ECONNCLOSED', 'ETIMEOUT', 'ENOTOPEN', 'ENOCONN', 'EABORT', 'ECLOSE'])
const TRANSIENT_NUMBERS = new Set([64, 233, 1205, 1222, 3960, 4221, 10053, 10054, 10060, 10928, 10929, 17809, 40143, 40197, 40501, 40540, 40613, 49918, 49919, 49920])
// Errors saying the server is over its capacity, for `--rate auto`: a lock request timed out
// (1222, SET LOCK_TIMEOUT), the user connections are used up (17809), Azure SQL's resource limits
// and busy service (10928, 10929, 40501) and too many operations in progress (49918-49920).
const THROTTLE_NUMBERS = new Set([1222, 17809, 10928, 10929, 40501, 49918, 49919, 49920])
const AUTH_NUMBERS = new Set([229, 230, 262, 297, 300, 916, 18456])
// Errors that mean the statement itself is wrong: a bug in this sink, never a property of one row.
const STATEMENT_NUMBERS = new Set([102, 105, 109, 110, 137, 156, 214, 2812, 4104, 4145, 8003, 8144, 8145, 8158, 8159, 8178, 10713, 10738])

const isTransientCode = (code: string) => TEDIOUS_TRANSIENT_CODES.has(code) || NETWORK_ERROR_CODES.has(code)

/** A write that ended without being applied; carried to the caller as a failed outcome. */
export class CommitUnknownError extends Error {}

/** SQL Server error numbers carried by an mssql error (and the errors that preceded it). */
function errorNumbers(error: unknown): number[] {
  const out: number[] = []
  const visit = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || depth > 4) return
    const o = e as { number?: unknown; info?: { number?: unknown }; originalError?: unknown; precedingErrors?: unknown[]; errors?: unknown[] }
    if (typeof o.number === 'number') out.push(o.number)
    if (typeof o.info?.number === 'number') out.push(o.info.number)
    visit(o.originalError, depth + 1)
    for (const p of o.precedingErrors ?? []) visit(p, depth + 1)
    if (Array.isArray(o.errors)) for (const p of o.errors) visit(p, depth + 1)
  }
  visit(error, 0)
  return out
}

/** The `code`s of an mssql error and the errors it wraps (`originalError`, not `cause`). */
function errorCodes(error: unknown): string[] {
  const out: string[] = []
  let e: unknown = error
  for (let depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') out.push(code)
    e = (e as { originalError?: unknown }).originalError
  }
  return out
}

/** True for a passing problem: a lost connection, a deadlock victim, a lock timeout, throttling. */
export function isTransient(error: unknown): boolean {
  if (error instanceof HydratorError || error instanceof CommitUnknownError) return false
  const numbers = errorNumbers(error)
  if (numbers.some((n) => TRANSIENT_NUMBERS.has(n))) return true
  if (numbers.length > 0) return false
  return errorCodes(error).some(isTransientCode)
}

/** True when SQL Server is over its capacity (`--rate auto` backs off): a lock timeout, no connections left, Azure SQL throttling. */
export function isThrottle(error: unknown): boolean {
  if (error instanceof HydratorError || error instanceof CommitUnknownError) return false
  return errorNumbers(error).some((n) => THROTTLE_NUMBERS.has(n))
}

/** The reason a retry is counted under: `SQL Server error 1205`, or the connection's error code. */
export function retryReasonOf(error: unknown): string {
  const n = errorNumbers(error).find((x) => TRANSIENT_NUMBERS.has(x))
  if (n !== undefined) return `SQL Server error ${n}`
  return errorCodes(error).find(isTransientCode) ?? 'Error'
}

/** The server's message and number, e.g. `Cannot insert the value NULL ... (SQL Server error 515)`. */
export function describeSqlServerError(error: unknown): string {
  const n = errorNumbers(error)[0]
  return n === undefined ? errorMessage(error) : `${errorMessage(error)} (SQL Server error ${n})`
}

/** `[dbo].[users] rejected the row (SQL Server error 515): Cannot insert the value NULL ...`. */
export function rejectionMessage(error: unknown, target: string): string {
  const n = errorNumbers(error)[0]
  return `${target} rejected the row (${n === undefined ? 'client' : `SQL Server error ${n}`}): ${errorMessage(error)}`
}

/** Errors that stop the run: the table or a column is gone, the login may not write, a bad statement. */
export function asHydratorError(error: unknown, target: string): HydratorError | undefined {
  if (error instanceof HydratorError) return error
  const numbers = errorNumbers(error)
  const make = (code: ErrorCode, message: string) => new HydratorError(code, `${message}: ${describeSqlServerError(error)}`, { cause: error })
  if (numbers.includes(208)) return make('ERR_TARGET_NOT_FOUND', `table ${target} was not found`)
  if (numbers.includes(207)) return make('ERR_TARGET_SCHEMA', `a mapped column is missing from ${target}`)
  if (numbers.some((n) => AUTH_NUMBERS.has(n)) || errorCodes(error).includes('ELOGIN')) return make('ERR_AUTH', `the login may not write ${target}`)
  if (numbers.some((n) => STATEMENT_NUMBERS.has(n))) return make('ERR_INTERNAL', `SQL Server rejected a statement the sink built for ${target}`)
  return undefined
}
