import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseRate, rate, tokenBucket } from '../../lib/stages/rate.js'
import { stageContract } from '../contract.js'
import { all, tracked } from '../helpers.js'

const test = suite('rate')
const numbers = (n: number) => Array.from({ length: n }, (_, i) => i)

stageContract(test, 'rate', () => rate(1000), numbers(5))

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

test.run()
