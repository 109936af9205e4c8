import { redactSecrets } from './util/redact.js'

/**
 * Every error code event-hydrator uses. Program and configuration problems are thrown as a
 * {@link HydratorError}; data problems (one bad line, one rejected row) are reported as failures with
 * the same codes. The README lists each code with what to do about it.
 */
export type ErrorCode =
  // configuration and usage: the CLI exits with 2
  | 'ERR_USAGE'
  | 'ERR_INVALID_OPTION'
  | 'ERR_INVALID_URI'
  | 'ERR_UNKNOWN_SCHEME'
  | 'ERR_FILE_NOT_FOUND'
  | 'ERR_INVALID_PATTERN'
  | 'ERR_PLUGIN'
  | 'ERR_TARGET_NOT_FOUND'
  | 'ERR_TARGET_NOT_EMPTY'
  | 'ERR_TARGET_SCHEMA'
  | 'ERR_AUTH'
  | 'ERR_CHECKPOINT_MISMATCH'
  | 'ERR_CHECKPOINT_LOCKED'
  | 'ERR_SHARE_MISMATCH'
  | 'ERR_SHARES_UNSUPPORTED'
  | 'ERR_TIME_BUDGET'
  // data problems: one event fails, the run goes on
  | 'ERR_INVALID_JSON'
  | 'ERR_NOT_AN_OBJECT'
  | 'ERR_LINE_TOO_LONG'
  | 'ERR_INVALID_UTF8'
  | 'ERR_MAPPING'
  | 'ERR_TRANSFORM'
  | 'ERR_WRITE_REJECTED'
  | 'ERR_ITEM_TOO_LARGE'
  | 'ERR_FUNCTION_ERROR'
  | 'ERR_RETRIES_EXHAUSTED'
  | 'ERR_NOT_HANDLED'
  | 'ERR_FILE_UNREADABLE'
  | 'ERR_UNSERIALIZABLE'
  | 'ERR_ORDER_KEY_MISSING'
  | 'ERR_OBJECT_ARCHIVED'
  | 'ERR_PARKED'
  // the run as a whole
  | 'ERR_SOURCE_READ'
  | 'ERR_CONNECTION'
  | 'ERR_TOO_MANY_FAILURES'
  | 'ERR_TOO_MANY_FAILED_KEYS'
  | 'ERR_ABORTED'
  | 'ERR_OUTPUT'
  | 'ERR_SORT_SPACE'
  | 'ERR_INTERNAL'

/** Codes that mean "the command or its configuration is wrong": the CLI exits with 2 for these. */
export const CONFIG_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_USAGE',
  'ERR_INVALID_OPTION',
  'ERR_INVALID_URI',
  'ERR_UNKNOWN_SCHEME',
  'ERR_FILE_NOT_FOUND',
  'ERR_INVALID_PATTERN',
  'ERR_PLUGIN',
  'ERR_TARGET_NOT_FOUND',
  'ERR_TARGET_NOT_EMPTY',
  'ERR_TARGET_SCHEMA',
  'ERR_AUTH',
  'ERR_CHECKPOINT_MISMATCH',
  'ERR_CHECKPOINT_LOCKED',
  'ERR_SHARE_MISMATCH',
  'ERR_SHARES_UNSUPPORTED',
  'ERR_TIME_BUDGET',
])

// Brands shared by every copy of this module in a process (Symbol.for), see HydratorError's instanceof.
const HYDRATOR_ERROR = Symbol.for('event-hydrator.HydratorError')
const INVALID_PATTERN = Symbol.for('event-hydrator.InvalidPatternError')

/**
 * The one error class of event-hydrator: a stable string `code`, a message that names the bad value
 * and the place, and the underlying `cause` when there is one. The message is passed through
 * {@link redactSecrets}: passwords and password-like parameters in it read `***`.
 *
 * @example
 * try { await run(job) } catch (error) {
 *   if (error instanceof HydratorError && error.code === 'ERR_TARGET_NOT_FOUND') ...
 * }
 */
export class HydratorError extends Error {
  /** A stable, documented code; branch on it rather than on the message. */
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    // Whatever code built the message, a password or token in it never leaves.
    super(redactSecrets(message), options)
    this.name = 'HydratorError'
    this.code = code
    Object.defineProperty(this, HYDRATOR_ERROR, { value: true })
  }

  // `instanceof` holds across copies of this module in one process: the bundled command and a
  // plugin that imports the package each have their own class, and the command must still know a
  // plugin's errors (their exit codes, whether they stop the run).
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[HYDRATOR_ERROR] === true
  }
}

/** An EventBridge pattern AWS would reject; the message names the JSON path and the reason. */
export class InvalidPatternError extends HydratorError {
  /** The JSON path of the problem inside the pattern, e.g. `detail.amount`. */
  readonly path: string

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[INVALID_PATTERN] === true
  }

  constructor(path: string, reason: string) {
    super('ERR_INVALID_PATTERN', path ? `${path}: ${reason}` : reason)
    this.name = 'InvalidPatternError'
    this.path = path
    Object.defineProperty(this, INVALID_PATTERN, { value: true })
  }
}

/** True when the error means the configuration is wrong (CLI exit code 2). */
export function isConfigError(error: unknown): boolean {
  return error instanceof HydratorError && CONFIG_ERROR_CODES.has(error.code)
}

/** The code of any thrown value: a HydratorError's own, a Node system error's, or ERR_INTERNAL. */
export function errorCode(error: unknown): string {
  if (error instanceof HydratorError) return error.code
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; name?: unknown }
    if (typeof e.code === 'string' && e.code) return e.code
    if (typeof e.name === 'string' && e.name && e.name !== 'Error') return e.name
  }
  return 'ERR_INTERNAL'
}

/** The message of any thrown value, never including a stack. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
