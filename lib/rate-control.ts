import { HydratorError } from './errors.js'
import type { ReportRate } from './report/schema.js'
import type { ThrottleFeedback } from './types.js'

/**
 * `--rate auto`: a sending rate that adapts to what the target can take. The rules are TCP's
 * congestion control applied to a rate, as the AWS SDKs' adaptive retry mode applies them
 * (smithy-typescript `DefaultRateLimiter`, in @smithy/core's retry submodule: β 0.7, C 0.4,
 * growth capped at twice the measured send rate):
 *
 * - Slow start (RFC 5681 §3.1): from a modest start, the rate doubles every second while writes
 *   succeed, until the first throttle. (The AWS SDK does not limit at all before the first
 *   throttle; a hydration must not hit production that hard, so it starts low.)
 * - Multiplicative decrease: a throttle sets the rate to `decrease` (β, 0.7 as in the AWS SDK and
 *   CUBIC, RFC 9438 §4.6) times the rate actually sent (the measured rate, when lower than the
 *   allowed one: a rate the source never reached says nothing about the target). As in TCP, one
 *   congestion event lowers the rate once (NewReno, RFC 6582: one reduction per window of data):
 *   throttles of requests sent before the last decrease, or within `holdMs` of it (retries of
 *   the same burst, sent before the target recovered), are counted but do not lower it again.
 *   The AWS SDK lowers on every throttled response; with batches in flight that collapses the
 *   rate.
 * - Growth after a throttle follows CUBIC's window function (RFC 9438 §4.2, the AWS SDK's
 *   `cubicSuccess`): `W(t) = C·(t − K)³ + Wmax` with `K = ∛(Wmax·(1 − β)/C)`, C = 0.4: quick at
 *   first, flat near the rate that was throttled, then probing above it. It spends most of its
 *   time near the target's limit, where linear additive increase would take minutes to climb
 *   back at thousands of writes per second.
 * - Growth is capped at twice the measured rate (as the AWS SDK does), so a run limited by its
 *   source or its concurrency does not build up a rate it never uses; and at `maxPerSecond`.
 * - The rate never goes below `minPerSecond`.
 *
 * The controller is pure: it reads time only from `now`, so tests drive it with a fake clock.
 */

/** Options of {@link rateControl}. */
export interface RateControlOptions {
  /** The ceiling (`--max-rate`). @default no ceiling */
  readonly maxPerSecond?: number
  /** The floor: throttling never takes the rate lower. @default 1 (or the ceiling, when lower) */
  readonly minPerSecond?: number
  /** The rate it starts at. @default a tenth of `maxPerSecond` (at most 100), else 10; within floor and ceiling */
  readonly startPerSecond?: number
  /** The factor a throttle multiplies the rate by (β). @default 0.7 */
  readonly decrease?: number
  /** CUBIC's scaling constant C, in events/s per s³. @default 0.4 */
  readonly growth?: number
  /**
   * A throttle lowers the rate again only this long after the last decrease (and, when its send
   * time is known, only if it was sent after it): the retries of a burst, sent before the target
   * recovered, are the same congestion event. @default 300
   */
  readonly holdMs?: number
  /** The clock in milliseconds (monotonic). @default performance.now */
  readonly now?: () => number
}

/** What `--rate auto` did, for the run report (`sink.rate`; defined with the report's schema). */
export type RateSummary = ReportRate

/** An adaptive rate: the sink's throttles and successes move it, a pacer reads it. */
export interface RateControl extends ThrottleFeedback {
  /** The rate events may be sent at now. */
  readonly perSecond: number
  /** Events just sent (admitted by the pacer), for the measured rate. */
  sent(count: number): void
  /**
   * `count` events were applied (written, or skipped by the target's rules): it grows while they
   * are. Before the first one, slow start grows as events are `sent`.
   */
  succeeded(count: number): void
  /** What it did so far. */
  summary(): RateSummary
}

/** The smoothing window of the reported settled rate. */
const SETTLE_MS = 5000
/** Width of one bucket of the measured rate, and how many make its window (1 s). */
const BUCKET_MS = 100
const BUCKETS = 10

/** Checks a rate option, echoing the bad value. */
function positive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`${name}\` to be a number > 0, got \`${String(value)}\``)
  }
  return value
}

/**
 * Makes an adaptive rate controller (see the module comment for the rules it follows). It starts
 * at `startPerSecond`, grows while the sink reports successes, and drops multiplicatively on each
 * congestion event the sink reports through `throttled`. Throws ERR_INVALID_OPTION for options
 * that cannot work, naming the bad value.
 *
 * @example
 * const control = rateControl({ maxPerSecond: 500 })
 * await run({ source, sink: toDynamo({ client, tableName: 'users' }), rate: control })
 */
export function rateControl(options: RateControlOptions = {}): RateControl {
  const max = options.maxPerSecond === undefined ? Infinity : positive('maxPerSecond', options.maxPerSecond)
  const min = positive('minPerSecond', options.minPerSecond ?? Math.min(1, max))
  if (min > max) throw new HydratorError('ERR_INVALID_OPTION', `expected \`minPerSecond\` <= \`maxPerSecond\`, got \`${min}\` and \`${max}\``)
  const start = Math.min(max, Math.max(min, positive('startPerSecond', options.startPerSecond ?? (max === Infinity ? 10 : Math.min(100, max / 10)))))
  const beta = options.decrease ?? 0.7
  if (!(beta > 0 && beta < 1)) throw new HydratorError('ERR_INVALID_OPTION', `expected \`decrease\` to be between 0 and 1, got \`${String(options.decrease)}\``)
  const C = positive('growth', options.growth ?? 0.4)
  const holdMs = options.holdMs ?? 300
  if (!(holdMs >= 0)) throw new HydratorError('ERR_INVALID_OPTION', `expected \`holdMs\` >= 0, got \`${String(options.holdMs)}\``)
  const now = options.now ?? (() => performance.now())

  const t0 = now()
  let rate = start
  let peak = start
  let slowStart = true
  // Whether a write has succeeded yet.
  let confirmed = false
  let lastGrowth = t0
  // CUBIC's state: the rate at the last throttle, when it was, and K.
  let wMax = start
  let throttleAt = t0
  let k = 0
  let lastDecrease: number | undefined
  let decreases = 0
  let throttles = 0
  const throttledBy: Record<string, number> = {}
  // The measured rate: events sent per 100 ms bucket over the last second.
  const buckets = new Array<number>(BUCKETS).fill(0)
  let bucketAt = Math.floor(t0 / BUCKET_MS)
  // The settled rate: a time-weighted moving average of the rate sent (the allowed rate, or less
  // when the source or the sink's concurrency holds it back), sampled as events are sent.
  let settled = start
  let settledAt = t0
  let sending = start
  // Writes waiting after a throttle, and since when one has been.
  let waiting = 0
  let waitingSince = 0
  let backoffMs = 0

  const roll = (t: number) => {
    const b = Math.floor(t / BUCKET_MS)
    if (b <= bucketAt) return
    for (let i = bucketAt + 1; i <= Math.min(b, bucketAt + BUCKETS); i++) buckets[i % BUCKETS] = 0
    bucketAt = b
  }
  /** Events per second sent over the last second (or since the start, when shorter). */
  const measured = (t: number) => {
    roll(t)
    let sum = 0
    for (const n of buckets) sum += n
    const span = Math.min(BUCKETS * BUCKET_MS, Math.max(BUCKET_MS, t - t0))
    return (sum * 1000) / span
  }
  const settle = (t: number) => {
    const dt = t - settledAt
    if (dt > 0) settled += (sending - settled) * (1 - Math.exp(-dt / SETTLE_MS))
    settledAt = t
  }
  const grow = (t: number) => {
    const target = slowStart ? rate * 2 ** ((t - lastGrowth) / 1000) : C * ((t - throttleAt) / 1000 - k) ** 3 + wMax
    lastGrowth = t
    if (target <= rate) return
    // Never more than twice what was actually sent: a rate nobody uses is not evidence.
    setRate(t, Math.min(target, Math.max(rate, 2 * measured(t))))
  }
  const setRate = (t: number, next: number) => {
    settle(t)
    rate = Math.min(max, Math.max(min, next))
    sending = Math.min(sending, rate)
    if (rate > peak) peak = rate
  }

  return {
    get perSecond() {
      return rate
    },
    sent(count) {
      const t = now()
      roll(t)
      buckets[bucketAt % BUCKETS]! += count
      settle(t)
      sending = Math.min(rate, measured(t))
      // Until the first write comes back (a batch of 500 rows fills slowly at 10/s), slow start
      // grows as events are sent: nothing has said no yet.
      if (slowStart && !confirmed) grow(t)
    },
    succeeded(count) {
      if (!(count > 0)) return
      confirmed = true
      grow(now())
    },
    throttled(reason, sentAt) {
      const t = now()
      throttles++
      throttledBy[reason] = (throttledBy[reason] ?? 0) + 1
      // One congestion event, one decrease: a request sent before the last one says nothing new.
      if (lastDecrease !== undefined && (t - lastDecrease < holdMs || (sentAt !== undefined && sentAt < lastDecrease))) return
      const sentRate = measured(t)
      const base = sentRate > 0 ? Math.min(rate, sentRate) : rate
      slowStart = false
      wMax = Math.max(min, base)
      k = Math.cbrt((wMax * (1 - beta)) / C)
      throttleAt = t
      lastDecrease = t
      lastGrowth = t
      decreases++
      setRate(t, base * beta)
    },
    backingOff(on) {
      const t = now()
      if (on) {
        if (waiting++ === 0) waitingSince = t
      } else if (waiting > 0 && --waiting === 0) {
        backoffMs += t - waitingSince
      }
    },
    summary() {
      const t = now()
      settle(t)
      const round = (n: number) => Math.round(n * 100) / 100
      return {
        mode: 'auto',
        startPerSecond: round(start),
        ...(max !== Infinity ? { maxPerSecond: round(max) } : {}),
        minPerSecond: round(min),
        settledPerSecond: round(settled),
        lastPerSecond: round(rate),
        peakPerSecond: round(peak),
        throttles,
        throttledBy: { ...throttledBy },
        decreases,
        backoffMs: Math.round(backoffMs + (waiting > 0 ? t - waitingSince : 0)),
      }
    },
  }
}
