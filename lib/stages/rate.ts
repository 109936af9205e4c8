import { setTimeout as sleep } from 'node:timers/promises'
import { HydratorError } from '../errors.js'
import type { RateControl } from '../rate-control.js'
import type { AbortOptions, SinkCapabilities, Stage } from '../types.js'
import { assertInteger } from '../util/options.js'
import { withStageInfo } from './stage-info.js'

/** Options of {@link rate} and {@link tokenBucket}. */
export interface RateOptions extends AbortOptions {
  /**
   * Events let through at once after a quiet spell; the average stays `perSecond`. Timers fire at
   * best every millisecond or so, so high rates need a burst of a few milliseconds' worth.
   * @default 1/50 of a second's worth, at least 1
   */
  readonly burst?: number
}

/** A token bucket: `acquire()` resolves when the next token is there, first come first served. */
export interface TokenBucket {
  /** Waits (on a timer, never spinning) for one token. Rejects with the signal's reason on abort. */
  acquire(signal?: AbortSignal): Promise<void>
}

/** Checks a rate at call time, echoing the bad value. */
function assertRate(perSecond: unknown, name = 'perSecond'): number {
  if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0) {
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `expected \`${name}\` to be a number > 0, got \`${typeof perSecond === 'string' ? JSON.stringify(perSecond) : String(perSecond)}\``,
    )
  }
  return perSecond
}

/** The default burst of a rate: 20 ms worth of tokens, at least one. */
export function defaultBurst(perSecond: number): number {
  return Math.max(1, Math.ceil(perSecond / 50))
}

/**
 * Makes a token bucket holding at most `burst` tokens, refilled at `perSecond`. It starts full.
 * Waiters are served in call order; waiting uses timers, never a busy loop.
 *
 * @example
 * const bucket = tokenBucket(100)
 * for (const e of events) { await bucket.acquire(); await send(e) }
 */
export function tokenBucket(perSecond: number, options: Pick<RateOptions, 'burst'> = {}): TokenBucket {
  const rate = assertRate(perSecond)
  const burst = assertInteger('burst', options.burst ?? defaultBurst(rate), 1)
  return bucketOf(() => rate, () => burst)
}

/** A token bucket whose rate (and burst) are read at every refill: fixed, or `--rate auto`'s. */
function bucketOf(rateNow: () => number, burstNow: () => number, maxWaitMs = Infinity): TokenBucket {
  let tokens = burstNow()
  let last = performance.now()
  let tail: Promise<void> = Promise.resolve()

  const refill = () => {
    const now = performance.now()
    tokens = Math.min(burstNow(), tokens + ((now - last) * rateNow()) / 1000)
    last = now
  }
  const take = async (signal: AbortSignal | undefined) => {
    for (;;) {
      signal?.throwIfAborted()
      refill()
      if (tokens >= 1) {
        tokens -= 1
        return
      }
      // A rate that changes meanwhile is read again after the wait (at most maxWaitMs).
      await sleep(Math.min(maxWaitMs, Math.max(1, Math.ceil(((1 - tokens) * 1000) / rateNow()))), undefined, { signal })
    }
  }

  return {
    acquire(signal) {
      const turn = tail.then(() => take(signal))
      tail = turn.catch(() => {})
      return turn
    },
  }
}

/**
 * Lets events through at most `perSecond` per second on average (a token bucket of `burst`), in
 * order, waiting on timers. Reading upstream pauses while it waits, so nothing piles up. With
 * `signal`, it stops quietly when aborted.
 *
 * @default burst 1/50 of a second's worth of events, at least 1
 * @example
 * pipe(readJsonLines('events.ndjson'), rate(50), toLambda({ client, functionName: 'projector' }))
 */
export function rate<T>(perSecond: number, options: RateOptions = {}): Stage<T, T> {
  const perSec = assertRate(perSecond)
  const burst = assertInteger('burst', options.burst ?? defaultBurst(perSec), 1)
  const signal = options.signal
  return withStageInfo(
    async function* rateStage(source: AsyncIterable<T>) {
      yield* paced(source, tokenBucket(perSec, { burst }), signal)
    },
    // One in, one out, nothing held back: like tap, it lets checkpoints infer filter drops.
    { kind: 'tap' },
  )
}

/**
 * Lets events through at the rate `control` allows at each moment (`--rate auto`), in order, and
 * tells it what went through so it knows the rate actually sent. The sink moves the rate: it
 * reports throttles and successes to the same controller (`run({ rate })` wires both). With
 * `signal`, it stops quietly when aborted.
 *
 * @example
 * const control = rateControl({ maxPerSecond: 500 })
 * pipe(readJsonLines('events.ndjson'), adaptiveRate(control), toDynamo({ client, tableName: 'users' }))
 */
export function adaptiveRate<T>(control: Pick<RateControl, 'perSecond' | 'sent'>, options: AbortOptions = {}): Stage<T, T> {
  if (!control || typeof control.sent !== 'function' || !(control.perSecond > 0)) {
    throw new HydratorError('ERR_INVALID_OPTION', 'expected `control` to be a rate controller (rateControl())')
  }
  const signal = options.signal
  return withStageInfo(
    async function* adaptiveRateStage(source: AsyncIterable<T>) {
      yield* paced(source, bucketOf(() => control.perSecond, () => defaultBurst(control.perSecond), 100), signal, () => control.sent(1))
    },
    { kind: 'tap' },
  )
}

/**
 * Reads `--rate`: `auto` (the rate adapts to the target's throttling, see `rateControl`) or a
 * fixed rate as {@link parseRate} reads it.
 *
 * @example
 * parseRateOption('auto') // 'auto'
 * parseRateOption('600/m') // 10
 */
export function parseRateOption(text: string | number): number | 'auto' {
  if (typeof text === 'string' && text.trim().toLowerCase() === 'auto') return 'auto'
  return parseRate(text)
}

/**
 * Reads a rate as the CLI's `--rate` gives it: `50`, `50/s`, `3000/m` (or `/min`), `10000/h`.
 * Returns events per second; throws ERR_INVALID_OPTION naming the bad value.
 *
 * @example
 * parseRate('600/m') // 10
 */
export function parseRate(text: string | number): number {
  if (typeof text === 'number') return assertRate(text, '--rate')
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|sec|second|m|min|minute|h|hour))?\s*$/i.exec(String(text))
  if (!m) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`--rate\` like \`50/s\`, \`3000/m\` or \`10000/h\`, got \`${String(text)}\``)
  }
  const n = Number(m[1])
  const unit = (m[2] ?? 's').toLowerCase()
  const perSecond = unit.startsWith('h') ? n / 3600 : unit.startsWith('m') ? n / 60 : n
  return assertRate(perSecond, '--rate')
}

/**
 * Where `--rate` goes, decided in one place: nowhere when the sink paces its own calls (it says so
 * with `pacedPerSecond`), else a {@link rate} stage in front of the sink.
 *
 * @example
 * const pace = paceFor(sink, 50, { signal }); if (pace) stages.push(pace)
 */
export function paceFor(sink: Pick<SinkCapabilities, 'pacedPerSecond'>, perSecond: number | undefined, options: RateOptions = {}): Stage<unknown, unknown> | undefined {
  if (perSecond === undefined || sink.pacedPerSecond !== undefined) return undefined
  return rate(perSecond, options)
}

/** The events of `source`, each let through when `bucket` has a token; an abort ends it quietly. */
async function* paced<T>(source: AsyncIterable<T>, bucket: { acquire(signal?: AbortSignal): Promise<void> }, signal: AbortSignal | undefined, onSent?: () => void): AsyncGenerator<T> {
  for await (const event of source) {
    try {
      await bucket.acquire(signal)
    } catch (error) {
      if (signal?.aborted) return
      throw error
    }
    onSent?.()
    yield event
  }
}
