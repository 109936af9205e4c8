import { HydratorError } from '../errors.js'
import { redactSecrets } from './redact.js'

/** Checks an integer option at call time, echoing the bad value (p-queue style). */
export function assertInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `expected \`${name}\` to be an integer ${range}, got \`${typeof value === 'string' ? JSON.stringify(value) : String(value)}\``,
    )
  }
  return value
}

/** Checks a non-empty string option at call time. */
export function assertString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`${name}\` to be a non-empty string, got \`${String(value)}\``)
  }
  return value
}

/**
 * Replaces the secrets of a URI (the password of its userinfo, password-like parameters such as
 * `password=`, `pwd=`, `token=`) with `***`, for reports and messages, whether or not it parses.
 * The same as {@link redactSecrets}, under the name the plugins and the CLI use.
 *
 * @example
 * redactUri('postgres://app:p@ss@db/app?table=t') // 'postgres://app:***@db/app?table=t'
 */
export function redactUri(uri: string): string {
  return redactSecrets(uri)
}
