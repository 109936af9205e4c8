import { setTimeout as sleep } from 'node:timers/promises'
import { HydratorError } from '../errors.js'
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
  let tokens = burst
  let last = performance.now()
  let tail: Promise<void> = Promise.resolve()

  const refill = () => {
    const now = performance.now()
    tokens = Math.min(burst, tokens + ((now - last) * rate) / 1000)
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
      await sleep(Math.max(1, Math.ceil(((1 - tokens) * 1000) / rate)), undefined, { signal })
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
      const bucket = tokenBucket(perSec, { burst })
      for await (const event of source) {
        try {
          await bucket.acquire(signal)
        } catch (error) {
          if (signal?.aborted) return
          throw error
        }
        yield event
      }
    },
    // One in, one out, nothing held back: like tap, it lets checkpoints infer filter drops.
    { kind: 'tap' },
  )
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
