import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import * as assert from 'uvu/assert'
import { pipe } from 'it-pipe'
import type { Sink, Stage } from '../lib/types.js'
import { all, tracked } from './helpers.js'

/**
 * The shared contract every stage passes: empty in, empty out; an early break runs the upstream
 * finally; an upstream error propagates; the same result under pipe() and pipeline().
 */
export function stageContract(test: (name: string, fn: () => Promise<void>) => void, name: string, make: () => Stage<any, any>, input: unknown[]) {
  test(`${name}: empty in, empty out`, async () => {
    assert.equal(await all(make()((async function* () {})())), [])
  })
  test(`${name}: an early break runs the upstream finally`, async () => {
    const { source, state } = tracked(input)
    for await (const _ of make()(source)) break
    assert.ok(state.closed, 'upstream finally ran')
  })
  test(`${name}: an upstream error propagates`, async () => {
    const { source } = tracked(input, { failAt: 1 })
    try {
      await all(make()(source))
      assert.unreachable('should have thrown')
    } catch (error) {
      assert.match((error as Error).message, /upstream failed/)
    }
  })
  test(`${name}: the same result under pipe() and pipeline()`, async () => {
    const viaPipe = await pipe(tracked(input).source, make(), all)
    const collected: unknown[] = []
    await pipeline(Readable.from(tracked(input).source), make(), async (s: AsyncIterable<unknown>) => {
      for await (const v of s) collected.push(v)
    })
    assert.equal(collected, viaPipe)
  })
}

/** The same contract for sinks, on their results. */
export function sinkContract(test: (name: string, fn: () => Promise<void>) => void, name: string, make: () => Sink<any>, input: unknown[]) {
  test(`${name}: empty in, nothing written`, async () => {
    const result = await make()((async function* () {})())
    assert.is(result.received, 0)
    assert.is(result.written, 0)
  })
  test(`${name}: an upstream error propagates and the upstream finally runs`, async () => {
    const { source, state } = tracked(input, { failAt: 1 })
    try {
      await make()(source)
      assert.unreachable('should have thrown')
    } catch (error) {
      assert.match((error as Error).message, /upstream failed/)
    }
    assert.ok(state.closed)
  })
  test(`${name}: the same result under pipe() and pipeline()`, async () => {
    const viaPipe = await pipe(tracked(input).source, make())
    const viaPipeline = await pipeline(Readable.from(tracked(input).source), (s: AsyncIterable<unknown>) => make()(s))
    assert.is(viaPipeline.written, viaPipe.written)
    assert.is(viaPipe.written, input.length)
  })
}
