import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { rateControl } from '../../lib/rate-control.js'
import { adaptiveRate, parseRate, parseRateOption, rate, tokenBucket } from '../../lib/stages/rate.js'
import { stageContract } from '../contract.js'
import { all, tracked } from '../helpers.js'

const test = suite('rate')
const numbers = (n: number) => Array.from({ length: n }, (_, i) => i)

stageContract(test, 'rate', () => rate(1000), numbers(5))
stageContract(test, 'adaptiveRate', () => adaptiveRate(rateControl({ startPerSecond: 1000 })), numbers(5))

test('lets events through at about n per second, in order', async () => {
  const started = performance.now()
  const out = await all(rate<number>(100, { burst: 1 })(tracked(numbers(21)).source))
  const elapsed = performance.now() - started
  assert.equal(out, numbers(21))
  // 20 waits of 10 ms; timers are coarse, so the bounds are loose.
  assert.ok(elapsed >= 170, `took ${elapsed.toFixed(0)} ms`)
  assert.ok(elapsed < 1500, `took ${elapsed.toFixed(0)} ms`)
})

test('a burst goes through at once, then the pace holds', async () => {
  const times: number[] = []
  const started = performance.now()
  for await (const _ of rate<number>(20, { burst: 5 })(tracked(numbers(7)).source)) times.push(performance.now() - started)
  assert.ok(times[4]! < 30, `the first five at once (${times[4]!.toFixed(0)} ms)`)
  assert.ok(times[6]! >= 80, `then 50 ms apart (${times[6]!.toFixed(0)} ms)`)
})

test('high rates keep up despite coarse timers (default burst)', async () => {
  const started = performance.now()
  await all(rate<number>(5000)(tracked(numbers(1000)).source))
  const elapsed = performance.now() - started
  assert.ok(elapsed >= 150, `took ${elapsed.toFixed(0)} ms`)
  assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms (should be about 200)`)
})

test('reading pauses while waiting: nothing piles up', async () => {
  const { source, state } = tracked(numbers(100))
  const it = rate<number>(50, { burst: 1 })(source)[Symbol.asyncIterator]()
  await it.next()
  await it.next()
  assert.ok(state.pulled <= 3, `pulled ${state.pulled}`)
  await it.return?.()
  assert.ok(state.closed)
})

test('an abort stops it quietly', async () => {
  const controller = new AbortController()
  const { source, state } = tracked(numbers(100))
  const out: number[] = []
  setTimeout(() => controller.abort(), 60)
  for await (const n of rate<number>(50, { burst: 1, signal: controller.signal })(source)) out.push(n)
  assert.ok(out.length >= 2 && out.length < 10, `got ${out.length}`)
  assert.ok(state.closed)
})

test('tokenBucket serves waiters in call order', async () => {
  const bucket = tokenBucket(200, { burst: 1 })
  const order: number[] = []
  await Promise.all(numbers(6).map((i) => bucket.acquire().then(() => order.push(i))))
  assert.equal(order, numbers(6))
})

test('parseRate reads 50, 50/s, 3000/m and 36000/h', () => {
  assert.is(parseRate('50'), 50)
  assert.is(parseRate('50/s'), 50)
  assert.is(parseRate('3000/m'), 50)
  assert.is(parseRate('3000/min'), 50)
  assert.is(parseRate('36000/h'), 10)
  assert.is(parseRate(2.5), 2.5)
  assert.throws(() => parseRate('fast'), /`fast`/)
  assert.throws(() => parseRate('0/s'), /> 0/)
})

test('options are checked at call time, echoing the bad value', () => {
  assert.throws(() => rate(0), /`perSecond`.*`0`/)
  assert.throws(() => rate(Number.NaN), /NaN/)
  assert.throws(() => rate(10, { burst: 0 }), /`burst`.*`0`/)
})

test('adaptiveRate follows the controller as its rate changes, and tells it what went through', async () => {
  let perSecond = 50
  let sent = 0
  const control = {
    get perSecond() {
      return perSecond
    },
    sent: (n: number) => void (sent += n),
  }
  const started = performance.now()
  const out: number[] = []
  for await (const n of adaptiveRate<number>(control)(tracked(numbers(40)).source)) {
    out.push(n)
    // After ten events at 50/s, the target has room: 2000/s.
    if (n === 10) perSecond = 2000
  }
  const elapsed = performance.now() - started
  assert.equal(out, numbers(40))
  assert.is(sent, 40)
  // About 10 × 20 ms, then 30 events at 2000/s (15 ms): far less than 40 × 20 ms.
  assert.ok(elapsed >= 150, `took ${elapsed.toFixed(0)} ms`)
  assert.ok(elapsed < 600, `took ${elapsed.toFixed(0)} ms (the faster rate was not followed)`)
})

test('adaptiveRate picks up a rate raised while it waits', async () => {
  let perSecond = 0.5
  const control = { get perSecond() { return perSecond }, sent() {} }
  const it = adaptiveRate<number>(control)(tracked(numbers(3)).source)[Symbol.asyncIterator]()
  await it.next() // the first token is there at once
  setTimeout(() => (perSecond = 1000), 50)
  const started = performance.now()
  await it.next()
  const waited = performance.now() - started
  assert.ok(waited < 500, `waited ${waited.toFixed(0)} ms, not the 2 s of 0.5/s`)
  await it.return?.()
})

test('adaptiveRate stops quietly on abort, and refuses what is not a controller', async () => {
  const controller = new AbortController()
  const { source, state } = tracked(numbers(100))
  const out: number[] = []
  setTimeout(() => controller.abort(), 60)
  for await (const n of adaptiveRate<number>(rateControl({ startPerSecond: 20 }), { signal: controller.signal })(source)) out.push(n)
  assert.ok(out.length >= 1 && out.length < 10, `got ${out.length}`)
  assert.ok(state.closed)
  assert.throws(() => adaptiveRate({} as never), /rate controller/)
})

test('parseRateOption reads auto as well as fixed rates', () => {
  assert.is(parseRateOption('auto'), 'auto')
  assert.is(parseRateOption(' AUTO '), 'auto')
  assert.is(parseRateOption('600/m'), 10)
  assert.throws(() => parseRateOption('automatic'), /`automatic`/)
})

test.run()
