import pRetry from 'p-retry'

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

/** Throws on a policy that cannot work, naming the bad value. */
export function validateRetryPolicy(policy: RetryPolicy | undefined): Required<RetryPolicy> {
  const p = { ...DEFAULT_RETRY, ...policy }
  if (!Number.isInteger(p.attempts) || p.attempts < 1) {
    throw new TypeError(`expected \`retry.attempts\` to be an integer >= 1, got \`${p.attempts}\``)
  }
  if (!(p.minDelayMs >= 0) || !(p.maxDelayMs >= p.minDelayMs)) {
    throw new TypeError(
      `expected 0 <= \`retry.minDelayMs\` <= \`retry.maxDelayMs\`, got \`${p.minDelayMs}\` and \`${p.maxDelayMs}\``,
    )
  }
  if (!(p.factor >= 1)) throw new TypeError(`expected \`retry.factor\` >= 1, got \`${p.factor}\``)
  return p
}

export interface RetryCall {
  /** Decides whether an error is passing (retry) or final (rethrow at once). */
  readonly isRetryable: (error: unknown) => boolean
  /** Called before each retry with the reason, for the report's retry counts. */
  readonly onRetry?: (reason: string, attempt: number) => void
  readonly signal?: AbortSignal
  /** A short reason for the report, from the error. @default the error's name or code */
  readonly reasonOf?: (error: unknown) => string
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
  try {
    return await pRetry(
      async (attempt) => {
        attempts = attempt
        const value = await fn(attempt)
        succeeded = true
        result = value
        return value
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
  }
}
