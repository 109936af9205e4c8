import { setTimeout as sleep } from 'node:timers/promises'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createLanes, laneKeyOf, orderedLanes, type Settled } from '../../lib/stages/ordered-lanes.js'
import { stageContract } from '../contract.js'
import { all, tracked } from '../helpers.js'

const test = suite('orderedLanes')

interface Ev {
  id: number
  key: string
}

const evs = (n: number, keys: number): Ev[] => Array.from({ length: n }, (_, i) => ({ id: i, key: `k${i % keys}` }))

/** A gate: `wait()` resolves once `open()` is called. */
function gate() {
  let open!: () => void
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { wait: () => opened, open }
}

stageContract(test, 'orderedLanes', () => orderedLanes(async (e: Ev) => e.id, { concurrency: 3, key: 'key' }), evs(6, 2))

test('runs every event once; one key at a time, in source order; keys side by side', async () => {
  const active = new Set<string>()
  const violations: number[] = []
  const started: Ev[] = []
  let running = 0
  let maxRunning = 0
  const out = await all(
    orderedLanes(
      async (e: Ev) => {
        if (active.has(e.key)) violations.push(e.id)
        active.add(e.key)
        started.push(e)
        maxRunning = Math.max(maxRunning, ++running)
        await sleep(Math.random() * 4)
        running--
        active.delete(e.key)
        return e.id * 2
      },
      { concurrency: 8, key: 'key' },
    )(tracked(evs(300, 13)).source),
  )
  assert.is(out.length, 300)
  assert.equal(violations, [])
  assert.ok(maxRunning > 1 && maxRunning <= 8, `max running ${maxRunning}`)
  assert.equal(out.map((r) => r.event.id).sort((a, b) => a - b), [...Array(300).keys()])
  for (let k = 0; k < 13; k++) {
    const ofKey = started.filter((e) => e.key === `k${k}`).map((e) => e.id)
    assert.equal(ofKey, [...ofKey].sort((a, b) => a - b))
    const yielded = out.filter((r) => r.event.key === `k${k}`).map((r) => r.event.id)
    assert.equal(yielded, ofKey, 'results of one key come out in source order')
  }
  assert.ok(out.every((r) => r.status === 'fulfilled' && r.value === r.event.id * 2))
})

test('concurrency 1 keeps the global source order, keys or not', async () => {
  const started: number[] = []
  await all(orderedLanes(async (e: Ev) => (started.push(e.id), sleep(Math.random() * 2)), { key: 'key' })(tracked(evs(40, 4)).source))
  assert.equal(started, [...Array(40).keys()])
})

test('a freed slot goes to the waiting event read earliest', async () => {
  const started: number[] = []
  const slow = gate()
  // k0 is slow; with two slots, the other keys must start in source order around it.
  const input = [{ id: 0, key: 'k0' }, { id: 1, key: 'k0' }, { id: 2, key: 'k1' }, { id: 3, key: 'k2' }, { id: 4, key: 'k1' }, { id: 5, key: 'k3' }]
  const run = all(
    orderedLanes(
      async (e: Ev) => {
        started.push(e.id)
        if (e.id === 0) await slow.wait()
      },
      { concurrency: 2, key: 'key' },
    )(tracked(input).source),
  )
  await sleep(20)
  slow.open()
  await run
  assert.equal(started, [0, 2, 3, 4, 5, 1])
})

test('without a key, events run side by side with no order kept', async () => {
  let maxRunning = 0
  let running = 0
  await all(
    orderedLanes(
      async () => {
        maxRunning = Math.max(maxRunning, ++running)
        await sleep(2)
        running--
      },
      { concurrency: 5 },
    )(tracked(evs(30, 1)).source),
  )
  assert.is(maxRunning, 5)
})

test('a slow key bounds what is read ahead: pulled - yielded never exceeds maxBuffered + concurrency', async () => {
  const slow = gate()
  const concurrency = 4
  const maxBuffered = 6
  let yielded = 0
  let worst = 0
  const state = { pulled: 0 }
  async function* source() {
    for (let i = 0; i < 200; i++) {
      state.pulled++
      worst = Math.max(worst, state.pulled - yielded)
      // Every fifth event is on the slow key, the rest on many fast keys.
      yield { id: i, key: i % 5 === 0 ? 'slow' : `f${i}` }
    }
  }
  const results: Settled<Ev, void>[] = []
  const consumer = (async () => {
    for await (const r of orderedLanes(
      async (e: Ev) => {
        if (e.key === 'slow') await slow.wait()
      },
      { concurrency, key: 'key', maxBuffered },
    )(source())) {
      yielded++
      results.push(r)
    }
  })()
  await sleep(50)
  const pulledWhileBlocked = state.pulled
  assert.ok(pulledWhileBlocked <= maxBuffered + concurrency + yielded, `pulled ${pulledWhileBlocked}, yielded ${yielded}`)
  assert.ok(pulledWhileBlocked < 200, 'reading paused behind the slow key')
  await sleep(20)
  assert.is(state.pulled, pulledWhileBlocked, 'no more reading while blocked')
  slow.open()
  await consumer
  assert.is(results.length, 200)
  assert.ok(worst <= maxBuffered + concurrency, `worst read-ahead ${worst}`)
})

test('a worker rejection is a rejected entry and the rest goes on', async () => {
  const out = await all(
    orderedLanes(
      async (e: Ev) => {
        if (e.id === 2) throw new Error('no')
        return e.id
      },
      { concurrency: 2, key: 'key' },
    )(tracked(evs(5, 2)).source),
  )
  assert.is(out.length, 5)
  const rejected = out.filter((r) => r.status === 'rejected')
  assert.is(rejected.length, 1)
  assert.is(rejected[0]!.event.id, 2)
  assert.match(String((rejected[0] as { reason: Error }).reason.message), /no/)
})

test('an upstream error is thrown after the events already read have settled and been yielded', async () => {
  const yielded: number[] = []
  const { source } = tracked(evs(10, 3), { failAt: 4 })
  try {
    for await (const r of orderedLanes(async (e: Ev) => sleep(3), { concurrency: 2, key: 'key' })(source)) yielded.push(r.event.id)
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.match((error as Error).message, /upstream failed at 4/)
  }
  assert.equal([...yielded].sort(), [0, 1, 2, 3])
})

test('an early break closes the upstream and never starts the waiting events', async () => {
  const started: number[] = []
  const { source, state } = tracked(evs(50, 1))
  for await (const _ of orderedLanes(async (e: Ev) => (started.push(e.id), sleep(2)), { concurrency: 2, key: 'key', maxBuffered: 10 })(source)) break
  assert.ok(state.closed, 'upstream finally ran')
  const count = started.length
  await sleep(20)
  assert.is(started.length, count, 'nothing started after the break')
  assert.ok(state.pulled <= 12)
})

test('an abort signal stops reading; what was read still settles', async () => {
  const controller = new AbortController()
  const { source, state } = tracked(evs(100, 4))
  const out: number[] = []
  for await (const r of orderedLanes(
    async (e: Ev) => {
      if (e.id === 3) controller.abort()
      await sleep(1)
    },
    { concurrency: 2, key: 'key', maxBuffered: 4, signal: controller.signal },
  )(source)) {
    out.push(r.event.id)
  }
  assert.ok(state.closed)
  assert.ok(state.pulled < 20, `pulled ${state.pulled}`)
  assert.is(out.length, state.pulled, 'every event read was yielded')
})

test('events without a key value share one lane', async () => {
  const key = laneKeyOf<Record<string, unknown>>('detail.id')
  assert.is(key({ detail: {} }), key({}))
  assert.is(key({ detail: { id: 'a' } }), 'a')
  assert.is(key({ detail: { id: 7 } }), '7')
  assert.is(laneKeyOf(undefined)({}), undefined)
})

test('createLanes orders by key and rejects tasks still waiting on clear()', async () => {
  const lanes = createLanes({ concurrency: 2 })
  const order: string[] = []
  const g = gate()
  const a1 = lanes.run('a', async () => {
    order.push('a1')
    await g.wait()
  })
  const a2 = lanes.run('a', () => order.push('a2'))
  const b1 = lanes.run('b', () => order.push('b1'))
  await b1
  assert.equal(order, ['a1', 'b1'])
  assert.is(lanes.waiting, 1)
  lanes.clear(new Error('stopped'))
  try {
    await a2
    assert.unreachable()
  } catch (error) {
    assert.match((error as Error).message, /stopped/)
  }
  g.open()
  await a1
  assert.is(lanes.running, 0)
  assert.is(lanes.waiting, 0)
})

test('options are checked at call time, echoing the bad value', () => {
  assert.throws(() => orderedLanes(async () => 1, { concurrency: 0 }), /`concurrency`.*`0`/)
  assert.throws(() => orderedLanes(async () => 1, { maxBuffered: 1.5 }), /`maxBuffered`.*`1.5`/)
  assert.throws(() => orderedLanes(async () => 1, { key: '' }), /JSON path/)
  assert.throws(() => orderedLanes(undefined as never), /worker/)
})

test.run()
