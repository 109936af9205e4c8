import pRetry from 'p-retry'
import { HydratorError } from './errors.js'
import type { ThrottleFeedback } from './types.js'

/** How a sink retries a write that failed for a passing reason (throttling, a dropped connection). */
export interface RetryPolicy {
  /** Attempts in all, the first included. @default 8 */
  readonly attempts?: number
  /** Delay before the first retry. @default 100 */
  readonly minDelayMs?: number
  /** Upper bound of one delay. @default 20000 */
  readonly maxDelayMs?: number
  /** Growth of the delay per attempt. @default 2 */
  readonly factor?: number
  /** Full jitter: each delay is random between minDelayMs and its exponential value. @default true */
  readonly jitter?: boolean
}

export const DEFAULT_RETRY: Required<RetryPolicy> = {
  attempts: 8,
  minDelayMs: 100,
  maxDelayMs: 20_000,
  factor: 2,
  jitter: true,
}

/** The policy with its defaults filled in; throws ERR_INVALID_OPTION on one that cannot work, naming the bad value. */
export function validateRetryPolicy(policy: RetryPolicy | undefined): Required<RetryPolicy> {
  const p = { ...DEFAULT_RETRY, ...policy }
  if (!Number.isInteger(p.attempts) || p.attempts < 1) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`retry.attempts\` to be an integer >= 1, got \`${p.attempts}\``)
  }
  if (!(p.minDelayMs >= 0) || !(p.maxDelayMs >= p.minDelayMs)) {
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `expected 0 <= \`retry.minDelayMs\` <= \`retry.maxDelayMs\`, got \`${p.minDelayMs}\` and \`${p.maxDelayMs}\``,
    )
  }
  if (!(p.factor >= 1)) throw new HydratorError('ERR_INVALID_OPTION', `expected \`retry.factor\` >= 1, got \`${p.factor}\``)
  return p
}

/**
 * Node's and undici's codes for a connection that failed, dropped or timed out: the passing network
 * errors every sink retries (each adds the codes of its own client).
 */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
])

/**
 * True for a connection that failed, dropped or timed out: a code of {@link NETWORK_ERROR_CODES}
 * on the error or its causes, or a socket hang-up in its message.
 */
export function isNetworkError(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return true
    if (/socket hang up|ECONNRESET|EPIPE|premature close/i.test(String((e as { message?: unknown }).message ?? ''))) return true
  }
  return false
}

export interface RetryCall {
  /** Decides whether an error is passing (retry) or final (rethrow at once). */
  readonly isRetryable: (error: unknown) => boolean
  /** Called before each retry with the reason, for the report's retry counts. */
  readonly onRetry?: (reason: string, attempt: number) => void
  readonly signal?: AbortSignal
  /** A short reason for the report, from the error. @default the error's name or code */
  readonly reasonOf?: (error: unknown) => string
  /**
   * Tells throttling (the target is over its capacity: a 429, ThrottlingException, a lock timeout)
   * apart from other passing errors, for `throttle`.
   */
  readonly isThrottle?: (error: unknown) => boolean
  /**
   * `--rate auto`: told of every attempt `isThrottle` picks out, the last one included (a throttle
   * is a signal whether a retry then succeeds or not), and of the wait before its retry.
   */
  readonly throttle?: ThrottleFeedback
}

/** The reason a retry is counted under in the report. */
export function retryReason(error: unknown): string {
  const e = error as { name?: string; code?: string; statusCode?: number; meta?: { statusCode?: number } }
  if (e?.code && typeof e.code === 'string') return e.code
  if (e?.name && e.name !== 'Error') return e.name
  return 'Error'
}

/**
 * Runs `fn` under a retry policy (exponential backoff with full jitter, capped), through p-retry.
 * Rejects with the last error when attempts run out, with `attempts` set on it.
 *
 * @example
 * await withRetry(() => client.send(cmd), policy, { isRetryable: isThrottle })
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy | undefined,
  call: RetryCall,
): Promise<T> {
  const p = validateRetryPolicy(policy)
  let attempts = 0
  // p-retry rejects with the abort reason even after an attempt succeeded; a write that happened
  // must be reported as written, or a redrive would apply it twice.
  let succeeded = false
  let result: T | undefined
  const throttle = call.isThrottle ? call.throttle : undefined
  // A retry after a throttle waits: from the refusal to the next attempt (p-retry sleeps between).
  let backingOff = false
  const endBackoff = () => {
    if (!backingOff) return
    backingOff = false
    throttle!.backingOff(false)
  }
  try {
    return await pRetry(
      async (attempt) => {
        attempts = attempt
        endBackoff()
        const sentAt = throttle ? performance.now() : 0
        try {
          const value = await fn(attempt)
          succeeded = true
          result = value
          return value
        } catch (error) {
          if (throttle && call.isThrottle!(error)) {
            throttle.throttled((call.reasonOf ?? retryReason)(error), sentAt)
            backingOff = true
            throttle.backingOff(true)
          }
          throw error
        }
      },
      {
        retries: p.attempts - 1,
        factor: p.factor,
        minTimeout: p.minDelayMs,
        maxTimeout: p.maxDelayMs,
        randomize: p.jitter,
        signal: call.signal,
        shouldRetry: ({ error, attemptNumber }) => {
          if (!call.isRetryable(error)) return false
          call.onRetry?.((call.reasonOf ?? retryReason)(error), attemptNumber)
          return true
        },
      },
    )
  } catch (error) {
    if (succeeded) return result as T
    if (error && typeof error === 'object') {
      try {
        ;(error as { attempts?: number }).attempts = attempts
      } catch {
        // frozen errors keep their own fields
      }
    }
    throw error
  } finally {
    endBackoff()
  }
}
