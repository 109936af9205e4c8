// The --rate auto controller on its own, driven by a fake clock: slow start, multiplicative
// decrease (once per congestion event), CUBIC growth back towards the throttled rate, the ceiling,
// the floor, the measured-rate cap and the time spent backing off.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import { rateControl, type RateControl, type RateControlOptions } from '../../lib/rate-control.js'

const test = suite('rate control')

/** A controller on a clock the test moves. */
function controlled(options: Omit<RateControlOptions, 'now'> = {}) {
  let t = 1_000_000
  const control = rateControl({ ...options, now: () => t })
  return {
    control,
    now: () => t,
    advance(ms: number) {
      t += ms
    },
  }
}

/**
 * Sends at the allowed rate for `ms`, in 10 ms steps; a target taking at most `capacity` events a
 * second throttles the steps sent above it (sent at the step's start), the others succeed.
 */
function drive(c: ReturnType<typeof controlled>, ms: number, capacity = Infinity, trace?: number[]) {
  for (let step = 0; step < ms; step += 10) {
    const sentAt = c.now()
    const n = c.control.perSecond / 100
    c.control.sent(n)
    c.advance(10)
    if (c.control.perSecond > capacity) c.control.throttled('ThrottlingException', sentAt)
    else c.control.succeeded(n)
    trace?.push(c.control.perSecond)
  }
}

const near = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: expected about ${expected}, got ${actual}`)

test('starts at a tenth of the ceiling (at most 100/s), or 10/s without one, within the floor', () => {
  assert.is(controlled({ maxPerSecond: 500 }).control.perSecond, 50)
  assert.is(controlled({ maxPerSecond: 1e9 }).control.perSecond, 100)
  assert.is(controlled().control.perSecond, 10)
  assert.is(controlled({ maxPerSecond: 5 }).control.perSecond, 1)
  assert.is(controlled({ maxPerSecond: 5, minPerSecond: 2 }).control.perSecond, 2)
  assert.is(controlled({ startPerSecond: 1000, maxPerSecond: 200 }).control.perSecond, 200)
  // A ceiling under 1/s (--max-rate 30/m) is its own floor.
  assert.is(controlled({ maxPerSecond: 0.5 }).control.perSecond, 0.5)
  const s = controlled({ maxPerSecond: 500 }).control.summary()
  assert.equal({ start: s.startPerSecond, max: s.maxPerSecond, min: s.minPerSecond, throttles: s.throttles }, { start: 50, max: 500, min: 1, throttles: 0 })
})

test('refuses options that cannot work, echoing the value', () => {
  const bad: [RateControlOptions, RegExp][] = [
    [{ maxPerSecond: 0 }, /maxPerSecond.*`0`/],
    [{ minPerSecond: -1 }, /minPerSecond.*`-1`/],
    [{ minPerSecond: 10, maxPerSecond: 5 }, /minPerSecond.*<=.*`10` and `5`/],
    [{ decrease: 1 }, /decrease.*`1`/],
    [{ startPerSecond: Number.NaN }, /startPerSecond.*`NaN`/],
  ]
  for (const [options, message] of bad) {
    try {
      rateControl(options)
      assert.unreachable(`accepted ${JSON.stringify(options)}`)
    } catch (error) {
      assert.instance(error, HydratorError)
      assert.is((error as HydratorError).code, 'ERR_INVALID_OPTION')
      assert.match((error as Error).message, message)
    }
  }
})

test('slow start: doubles about every second while writes succeed', () => {
  const c = controlled({ startPerSecond: 20 })
  drive(c, 1000)
  near(c.control.perSecond, 40, 3, 'after 1 s')
  drive(c, 2000)
  near(c.control.perSecond, 160, 15, 'after 3 s')
})

test('does not grow while nothing succeeds, nor past twice what was actually sent', () => {
  const c = controlled({ startPerSecond: 20 })
  c.advance(5000)
  assert.is(c.control.perSecond, 20, 'time alone does not grow it')
  // Writes succeed but the source sends only 5 events a second: the cap is 2 × 5, under 20.
  for (let i = 0; i < 300; i++) {
    c.control.sent(0.05)
    c.advance(10)
    c.control.succeeded(0.05)
  }
  assert.is(c.control.perSecond, 20)
  // 15 a second sent: it may grow to 30 and no further.
  for (let i = 0; i < 300; i++) {
    c.control.sent(0.15)
    c.advance(10)
    c.control.succeeded(0.15)
  }
  near(c.control.perSecond, 30, 0.5, 'capped at 2 × measured')
})

test('until the first write comes back, slow start grows as events are sent; after, only with successes', () => {
  const c = controlled({ startPerSecond: 20 })
  // A sink filling a batch of 500 sends nothing back for a while.
  for (let i = 0; i < 100; i++) {
    c.control.sent(c.control.perSecond / 100)
    c.advance(10)
  }
  near(c.control.perSecond, 40, 3, 'doubled in a second without an answer')
  c.control.succeeded(1)
  const after = c.control.perSecond
  for (let i = 0; i < 100; i++) {
    c.control.sent(c.control.perSecond / 100)
    c.advance(10)
  }
  assert.is(c.control.perSecond, after, 'once writes come back, sending alone does not grow it')
})

test('a throttle multiplies the rate sent by 0.7, once per congestion event', () => {
  const c = controlled({ startPerSecond: 100 })
  drive(c, 1000)
  const before = c.control.perSecond
  const sentBefore = c.now() - 5
  c.control.throttled('ProvisionedThroughputExceededException', sentBefore)
  const after = c.control.perSecond
  assert.ok(after <= before * 0.7 + 1e-9, `${before} -> ${after}`)
  assert.ok(after >= before * 0.7 * 0.6, `lowered from the measured rate, not to the floor: ${before} -> ${after}`)
  // More answers to requests sent before the decrease: counted, not lowered again.
  c.advance(5)
  c.control.throttled('ProvisionedThroughputExceededException', sentBefore)
  c.control.throttled('UnprocessedItems', sentBefore + 2)
  assert.is(c.control.perSecond, after)
  // A request sent after it, and after the 300 ms hold, was throttled too: a new congestion event.
  c.advance(350)
  c.control.sent(1)
  c.control.throttled('ProvisionedThroughputExceededException', c.now() - 10)
  assert.ok(c.control.perSecond < after, `${after} -> ${c.control.perSecond}`)
  const s = c.control.summary()
  assert.is(s.throttles, 4)
  assert.equal(s.throttledBy, { ProvisionedThroughputExceededException: 3, UnprocessedItems: 1 })
  assert.is(s.decreases, 2)
})

test('without a send time, throttles within holdMs of a decrease count as the same event', () => {
  const c = controlled({ startPerSecond: 100, holdMs: 250 })
  drive(c, 500)
  c.control.throttled('HTTP 429')
  const after = c.control.perSecond
  c.advance(100)
  c.control.throttled('HTTP 429')
  assert.is(c.control.perSecond, after)
  c.advance(200)
  c.control.throttled('HTTP 429')
  assert.ok(c.control.perSecond < after)
  assert.is(c.control.summary().decreases, 2)
})

test('after a throttle it grows back towards the throttled rate (CUBIC), then probes above it', () => {
  const c = controlled({ startPerSecond: 200 })
  drive(c, 500)
  c.control.throttled('ThrottlingException', c.now())
  const low = c.control.perSecond
  // K = cbrt(wMax · 0.3 / 0.4): the time CUBIC takes to get back to wMax.
  const measuredMax = low / 0.7
  const k = Math.cbrt((measuredMax * 0.3) / 0.4) * 1000
  drive(c, Math.round(k * 0.5))
  const halfway = c.control.perSecond
  assert.ok(halfway > low && halfway < measuredMax, `concave: ${low} < ${halfway} < ${measuredMax}`)
  // The growth in the last part before K is small: the plateau.
  drive(c, Math.round(k * 0.5) - 200)
  const nearK = c.control.perSecond
  drive(c, 200)
  near(c.control.perSecond, measuredMax, measuredMax * 0.02, 'back at the throttled rate at K')
  assert.ok(c.control.perSecond - nearK < measuredMax * 0.01, `flat near K: ${nearK} -> ${c.control.perSecond}`)
  // 0.4 · 6³ = 86 events/s above it after 6 more seconds.
  drive(c, 6000)
  near(c.control.perSecond, measuredMax + 0.4 * 6 ** 3, 3, 'then probes above it')
})

test('converges under a target that throttles above its capacity: mostly near it, never far above', () => {
  const c = controlled({ startPerSecond: 10 })
  const trace: number[] = []
  drive(c, 60_000, 1000, trace)
  const last30 = trace.slice(-3000)
  const mean = last30.reduce((a, b) => a + b, 0) / last30.length
  assert.ok(mean >= 850 && mean <= 1000, `mean of the last 30 s: ${mean.toFixed(0)}/s`)
  assert.ok(Math.max(...last30) <= 1000 * 1.02, `peak ${Math.max(...last30).toFixed(0)}/s`)
  const s = c.control.summary()
  assert.ok(s.settledPerSecond >= 700 && s.settledPerSecond <= 1010, `settled ${s.settledPerSecond}`)
  // One decrease per cycle of several seconds, not one per throttled request.
  assert.ok(s.decreases >= 3 && s.decreases <= 20, `${s.decreases} decreases`)
})

test('never above the ceiling', () => {
  const c = controlled({ maxPerSecond: 300 })
  const trace: number[] = []
  drive(c, 10_000, Infinity, trace)
  assert.is(Math.max(...trace), 300)
  assert.is(c.control.perSecond, 300)
  assert.is(c.control.summary().peakPerSecond, 300)
})

test('never below the floor, however often it is throttled', () => {
  const c = controlled({ startPerSecond: 100, minPerSecond: 5 })
  for (let i = 0; i < 50; i++) {
    c.control.sent(1)
    c.advance(300)
    c.control.throttled('TooManyRequestsException', c.now())
  }
  assert.is(c.control.perSecond, 5)
  assert.is(c.control.summary().decreases, 50)
})

test('the time backing off counts overlapping waits once', () => {
  const c = controlled()
  c.control.backingOff(true)
  c.advance(100)
  c.control.backingOff(true)
  c.advance(100)
  c.control.backingOff(false)
  c.advance(100)
  c.control.backingOff(false)
  c.advance(500)
  c.control.backingOff(true)
  c.advance(50)
  assert.is(c.control.summary().backoffMs, 350, 'a wait still going counts up to now')
  c.control.backingOff(false)
  c.control.backingOff(false) // an unmatched end changes nothing
  c.advance(100)
  assert.is(c.control.summary().backoffMs, 350)
})

test('the settled rate is the allowed rate averaged over the last seconds', () => {
  const c = controlled({ startPerSecond: 100, maxPerSecond: 100 })
  c.advance(60_000)
  assert.is(c.control.summary().settledPerSecond, 100)
  c.control.sent(100)
  c.control.throttled('x', c.now())
  assert.is(c.control.perSecond, 70)
  c.advance(60_000)
  near(c.control.summary().settledPerSecond, 70, 0.01, 'after a minute at 70')
  assert.is(c.control.summary().lastPerSecond, 70)
})

test('a controller is what run() and the stage take', () => {
  const control: RateControl = rateControl()
  assert.type(control.succeeded, 'function')
  assert.type(control.throttled, 'function')
  assert.type(control.backingOff, 'function')
})

test.run()
