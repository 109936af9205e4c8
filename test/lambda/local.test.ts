import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import { lambdaPlugin } from '../../lib/lambda/plugin.js'
import { parseUri, type FactoryContext } from '../../lib/registry.js'
import { parseHandlerSpec, toLambdaLocal } from '../../lib/lambda/local.js'
import { sinkContract } from '../contract.js'
import { assertCounts, orderEvents, tracked } from '../helpers.js'

const FIXTURES = path.resolve('test/fixtures/handlers')
const RECORDER = './test/fixtures/handlers/recorder.mjs#handler'
const CALLBACK = './test/fixtures/handlers/callback.mjs#handler'

interface Recorder {
  calls: { event: Record<string, any>; context: Record<string, any> }[]
  violations: unknown[]
  stats: { maxRunning: number }
  reset(options?: { maxDelayMs?: number }): void
}
interface Callback {
  calls: { event: Record<string, any>; functionName: string; awsRequestId: string }[]
  reset(): void
}

let recorder: Recorder
let callback: Callback

const test = suite('toLambdaLocal')

test.before(async () => {
  recorder = (await import(pathToFileURL(path.join(FIXTURES, 'recorder.mjs')).href)) as Recorder
  callback = (await import(pathToFileURL(path.join(FIXTURES, 'callback.mjs')).href)) as Callback
})

test.before.each(() => {
  recorder.reset()
  callback.reset()
})

const events = (n: number, keys = 5, extra?: (i: number) => Record<string, unknown>) => orderEvents(n, { keys, extra })

sinkContract(test, 'toLambdaLocal', () => toLambdaLocal({ handler: RECORDER }), events(4))

test('an async handler module gets every event once, with a Lambda-like context', async () => {
  const input = events(20)
  const result = await toLambdaLocal({ handler: RECORDER, region: 'eu-west-1', account: '111122223333', timeoutMs: 5000 })(tracked(input).source)
  assertCounts(result)
  assert.is(result.written, 20)
  assert.is(result.uri, `lambda-local:${RECORDER}`)
  assert.equal(recorder.calls.map((c) => c.event.id), input.map((e) => e.id))
  assert.equal(recorder.calls[0]!.event, input[0])
  const context = recorder.calls[0]!.context
  assert.is(context.functionName, 'recorder')
  assert.is(context.invokedFunctionArn, 'arn:aws:lambda:eu-west-1:111122223333:function:recorder')
  assert.is(context.memoryLimitInMB, '128')
  assert.match(context.awsRequestId, /^[0-9a-f-]{36}$/)
  assert.ok(context.remainingMs > 4000 && context.remainingMs <= 5000)
  assert.is(context.callbackWaitsForEmptyEventLoop, true)
  assert.is.not(recorder.calls[0]!.context.awsRequestId, recorder.calls[1]!.context.awsRequestId)
})

test('the handler gets a fresh copy: it cannot change the event or the next call', async () => {
  const input = events(1)
  await toLambdaLocal({
    handler: (event: Record<string, any>) => {
      event.detail.changed = true
      return Promise.resolve()
    },
  })(tracked(input).source)
  assert.is((input[0]!.detail as Record<string, unknown>).changed, undefined)
})

test('a callback-style handler works, and its callback errors are failures', async () => {
  const input = events(4, 5, (i) => (i === 2 ? { fail: 'no stock' } : {}))
  const result = await toLambdaLocal({ handler: CALLBACK })(tracked(input).source)
  assertCounts(result)
  assert.is(result.written, 3)
  assert.is(result.failed, 1)
  assert.is(result.failures[0]!.code, 'ERR_FUNCTION_ERROR')
  assert.is(result.failures[0]!.message, 'Unhandled: TypeError: no stock')
  assert.is(result.failures[0]!.key, 'e2')
  assert.is(callback.calls.length, 4)
  assert.is(callback.calls[0]!.functionName, 'callback')
})

test('thrown errors (async rejection and synchronous throw) fail only their event with name and message', async () => {
  const asyncInput = events(3, 5, (i) => (i === 0 ? { throw: 'amount must be positive' } : {}))
  const r1 = await toLambdaLocal({ handler: RECORDER })(tracked(asyncInput).source)
  assertCounts(r1)
  assert.is(r1.written, 2)
  assert.is(r1.failures[0]!.message, 'Unhandled: ValidationError: amount must be positive')
  const syncInput = events(3, 5, (i) => (i === 1 ? { throwSync: 'out of range' } : {}))
  const r2 = await toLambdaLocal({ handler: CALLBACK })(tracked(syncInput).source)
  assertCounts(r2)
  assert.is(r2.written, 2)
  assert.is(r2.failures[0]!.code, 'ERR_FUNCTION_ERROR')
  assert.is(r2.failures[0]!.message, 'Unhandled: RangeError: out of range')
})

test('a handler that never answers times out as Lambda does', async () => {
  const result = await toLambdaLocal({ handler: './test/fixtures/handlers/callback.mjs#never', timeoutMs: 30 })(tracked(events(2)).source)
  assertCounts(result)
  assert.is(result.failed, 2)
  assert.is(result.failures[0]!.message, 'Unhandled: Sandbox.Timedout: Task timed out after 0.03 seconds')
})

test('per-key order holds under concurrency 16, and keys run side by side', async () => {
  recorder.reset({ maxDelayMs: 5 })
  const input = events(300, 10)
  const result = await toLambdaLocal({ handler: RECORDER, concurrency: 16, orderKey: 'detail.aggregateId' })(tracked(input).source)
  assertCounts(result)
  assert.is(result.written, 300)
  assert.equal(recorder.violations, [])
  for (let k = 0; k < 10; k++) {
    const seqs = recorder.calls.filter((c) => c.event.detail.aggregateId === `a${k}`).map((c) => c.event.detail.seq as number)
    assert.equal(seqs, [...seqs].sort((a, b) => a - b))
  }
  assert.ok(recorder.stats.maxRunning > 1)
  assert.is(new Set(recorder.calls.map((c) => c.event.id)).size, 300)
})

test('the default keeps the global order, one call at a time', async () => {
  recorder.reset({ maxDelayMs: 2 })
  const input = events(30)
  await toLambdaLocal({ handler: RECORDER })(tracked(input).source)
  assert.equal(recorder.calls.map((c) => c.event.id), input.map((e) => e.id))
  assert.is(recorder.stats.maxRunning, 1)
})

test('a missing module or export fails at open, before any event is read', async () => {
  for (const [handler, code, pattern] of [
    ['./test/fixtures/handlers/nope.mjs#handler', 'ERR_FILE_NOT_FOUND', /nope\.mjs/],
    ['./test/fixtures/handlers/callback.mjs#missing', 'ERR_TARGET_NOT_FOUND', /no function export `missing`; it exports .*handler/],
    ['./test/fixtures/handlers/callback.mjs#notAFunction', 'ERR_TARGET_NOT_FOUND', /notAFunction/],
  ] as const) {
    const { source, state } = tracked(events(2))
    try {
      await toLambdaLocal({ handler })(source)
      assert.unreachable(handler)
    } catch (error) {
      assert.instance(error, HydratorError)
      assert.is((error as HydratorError).code, code)
      assert.match((error as Error).message, pattern)
    }
    assert.is(state.pulled, 0)
  }
})

test('envelope mapping and the replay marker apply as for lambda:', async () => {
  const result = await toLambdaLocal({
    handler: RECORDER,
    replayName: 'rebuild',
    envelope: { id: 'ID', time: 'Timestamp', 'detail-type': 'EventType', source: { value: 'orders' }, detail: 'Data' },
  })(tracked([{ ID: 'x1', Timestamp: 1704067200000, EventType: 'OrderPlaced', Data: { total: 1 } }]).source)
  assert.is(result.written, 1)
  const event = recorder.calls[0]!.event
  assert.is(event['replay-name'], 'rebuild')
  assert.is(event.time, '2024-01-01T00:00:00Z')
  assert.is(event.region, 'us-east-1')
  assert.equal(event.detail, { total: 1 })
})

test('a dry run loads the module, previews the payloads and calls nothing', async () => {
  const result = await toLambdaLocal({ handler: RECORDER })(tracked(events(3)).source, { dryRun: true })
  assertCounts(result)
  assert.is(result.written, 3)
  assert.is(result.previews.length, 3)
  assert.is(recorder.calls.length, 0)
})

test('handler specs are parsed and checked when the sink is made', () => {
  assert.equal(parseHandlerSpec('./dist/h.js#main'), { module: './dist/h.js', exportName: 'main' })
  assert.equal(parseHandlerSpec('./dist/h.js'), { module: './dist/h.js', exportName: 'handler' })
  assert.equal(parseHandlerSpec('h.cjs#api.handler'), { module: 'h.cjs', exportName: 'api.handler' })
  assert.throws(() => toLambdaLocal({ handler: './h.js#' }), /handler/)
  assert.throws(() => toLambdaLocal({ handler: './h.js#1x' }), /handler/)
  assert.throws(() => toLambdaLocal({ handler: RECORDER, timeoutMs: 0 }), /`timeoutMs`/)
  assert.throws(() => toLambdaLocal({} as never), /handler/)
})

test('the lambda-local: scheme resolves the module against the working directory', async () => {
  const closers: (() => unknown)[] = []
  const context: FactoryContext = {
    env: {},
    cwd: path.resolve('test/fixtures'),
    flags: { replayName: 'cli-run' },
    concurrency: 4,
    orderKey: 'detail.aggregateId',
    onClose: (fn) => closers.push(fn),
  }
  const sink = await lambdaPlugin.sinks!['lambda-local']!(parseUri('lambda-local:./handlers/callback.mjs#handler?timeoutMs=2000&functionName=orders'), context)
  const result = await sink(tracked(events(12, 3)).source)
  assertCounts(result)
  assert.is(result.written, 12)
  assert.is(callback.calls[0]!.functionName, 'orders')
  assert.is(callback.calls[0]!.event['replay-name'], 'cli-run')
  try {
    await lambdaPlugin.sinks!['lambda-local']!(parseUri('lambda-local:./h.js?timeout=1'), context)
    assert.unreachable()
  } catch (error) {
    assert.match((error as Error).message, /unknown parameter `timeout`/)
  }
})

test.run()
